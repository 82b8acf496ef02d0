"""JUnit XML for CI: one testcase per run, so any CI server can gate on a campaign.

An invalid run is a ``<failure>`` naming the anomaly and the report; an
unknown verdict or a harness failure is an ``<error>`` -- never a pass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def write_junit(path: str, suite_name: str, outcomes: list[Any]) -> None:
    failures = sum(1 for o in outcomes if o.exit_code == 1)
    errors = sum(1 for o in outcomes if o.exit_code not in (0, 1))
    total_s = sum(o.seconds for o in outcomes)
    suites = ET.Element("testsuites", name="splitbrain", tests=str(len(outcomes)),
                        failures=str(failures), errors=str(errors), time=f"{total_s:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=suite_name, tests=str(len(outcomes)),
                          failures=str(failures), errors=str(errors), time=f"{total_s:.3f}")
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"splitbrain.{o.spec.system}",
                             name=o.spec.name, time=f"{o.seconds:.3f}")
        report = f"{o.run_dir}/report.html" if o.run_dir else "(no run directory)"
        if o.exit_code == 1:
            el = ET.SubElement(case, "failure", message=f"{o.anomaly or 'invalid'} -- report: {report}",
                               type="invalid")
            el.text = f"run dir: {o.run_dir}\n{o.anomaly}"
        elif o.exit_code == 2:
            el = ET.SubElement(case, "error", message=f"verdict unknown -- report: {report}", type="unknown")
            el.text = "the checker could not decide (time or memory limit); unknown is not a pass"
        elif o.exit_code != 0:
            el = ET.SubElement(case, "error", message=o.error or f"exit code {o.exit_code}",
                               type=f"exit-{o.exit_code}")
            el.text = o.error
        if o.run_dir:
            out = ET.SubElement(case, "system-out")
            out.text = f"report: {report}"
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
