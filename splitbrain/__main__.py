from splitbrain.cli import main

main()
