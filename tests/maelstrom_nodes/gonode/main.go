// A Maelstrom test node in Go, written from Maelstrom's published protocol only.
//
//	gonode lin-kv [--wrong]     every op through the lin-kv service / reads served from a local cache
//	gonode broadcast [--wrong]  periodic full-state gossip to topology neighbours, persisted / forward once
//	gonode echo
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

type Msg struct {
	Src  string                 `json:"src"`
	Dest string                 `json:"dest"`
	Body map[string]interface{} `json:"body"`
}

type Node struct {
	mu         sync.Mutex
	outMu      sync.Mutex
	id         string
	ids        []string
	neighbours []string
	nextID     int
	pending    map[int]chan map[string]interface{}
	cache      map[string]interface{}
	seen       map[string]bool
	order      []interface{}
	log        *os.File
	mode       string
	wrong      bool
}

func (n *Node) send(dest string, body map[string]interface{}) {
	b, _ := json.Marshal(Msg{Src: n.id, Dest: dest, Body: body})
	n.outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	n.outMu.Unlock()
}

func (n *Node) reply(m Msg, body map[string]interface{}) {
	body["in_reply_to"] = m.Body["msg_id"]
	n.send(m.Src, body)
}

// rpc sends a request and waits for its answer (nil on timeout).
func (n *Node) rpc(dest string, body map[string]interface{}) map[string]interface{} {
	n.mu.Lock()
	n.nextID++
	id := n.nextID
	ch := make(chan map[string]interface{}, 1)
	n.pending[id] = ch
	n.mu.Unlock()
	body["msg_id"] = id
	n.send(dest, body)
	select {
	case r := <-ch:
		return r
	case <-time.After(time.Second):
		n.mu.Lock()
		delete(n.pending, id)
		n.mu.Unlock()
		return nil
	}
}

func key(v interface{}) string { b, _ := json.Marshal(v); return string(b) }

// add records new messages (persisted before they are acknowledged); returns the ones not seen before.
func (n *Node) add(items []interface{}) []interface{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	var fresh []interface{}
	for _, it := range items {
		k := key(it)
		if !n.seen[k] {
			n.seen[k] = true
			n.order = append(n.order, it)
			fresh = append(fresh, it)
			if n.log != nil {
				n.log.WriteString(k + "\n")
			}
		}
	}
	if len(fresh) > 0 && n.log != nil {
		n.log.Sync()
	}
	return fresh
}

func (n *Node) snapshot() []interface{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := append([]interface{}{}, n.order...)
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

func (n *Node) handle(m Msg) {
	t, _ := m.Body["type"].(string)
	switch {
	case t == "init":
		n.id, _ = m.Body["node_id"].(string)
		for _, x := range m.Body["node_ids"].([]interface{}) {
			n.ids = append(n.ids, x.(string))
		}
		if n.mode == "broadcast" {
			f, err := os.OpenFile("broadcast-"+n.id+".log", os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
			if err == nil {
				sc := bufio.NewScanner(f)
				var old []interface{}
				for sc.Scan() {
					var v interface{}
					if json.Unmarshal(sc.Bytes(), &v) == nil {
						old = append(old, v)
					}
				}
				n.add(old)
				n.log = f
			}
		}
		n.reply(m, map[string]interface{}{"type": "init_ok"})
	case t == "topology":
		if ns, ok := m.Body["topology"].(map[string]interface{})[n.id].([]interface{}); ok {
			for _, x := range ns {
				n.neighbours = append(n.neighbours, x.(string))
			}
		}
		n.reply(m, map[string]interface{}{"type": "topology_ok"})
	case t == "echo":
		n.reply(m, map[string]interface{}{"type": "echo_ok", "echo": m.Body["echo"]})
	case t == "gossip":
		n.add(m.Body["items"].([]interface{}))
	case t == "broadcast":
		fresh := n.add([]interface{}{m.Body["message"]})
		if n.wrong && len(fresh) > 0 {
			for _, p := range n.neighbours {
				if p != m.Src {
					n.send(p, map[string]interface{}{"type": "gossip", "items": fresh})
				}
			}
		}
		n.reply(m, map[string]interface{}{"type": "broadcast_ok"})
	case t == "read" && n.mode == "broadcast":
		n.reply(m, map[string]interface{}{"type": "read_ok", "messages": n.snapshot()})
	case n.mode == "lin-kv" && (t == "read" || t == "write" || t == "cas"):
		k := key(m.Body["key"])
		if n.wrong && t == "read" {
			n.mu.Lock()
			v, ok := n.cache[k]
			n.mu.Unlock()
			if ok {
				n.reply(m, map[string]interface{}{"type": "read_ok", "value": v})
				return
			}
		}
		fwd := map[string]interface{}{}
		for kk, v := range m.Body {
			if kk != "msg_id" {
				fwd[kk] = v
			}
		}
		ans := n.rpc("lin-kv", fwd)
		if ans == nil {
			n.reply(m, map[string]interface{}{"type": "error", "code": 0, "text": "lin-kv timed out"})
			return
		}
		n.mu.Lock()
		switch ans["type"] {
		case "read_ok":
			n.cache[k] = ans["value"]
		case "write_ok":
			n.cache[k] = m.Body["value"]
		case "cas_ok":
			n.cache[k] = m.Body["to"]
		}
		n.mu.Unlock()
		delete(ans, "in_reply_to")
		delete(ans, "msg_id")
		n.reply(m, ans)
	default:
		if _, ok := m.Body["msg_id"]; ok {
			n.reply(m, map[string]interface{}{"type": "error", "code": 10, "text": "not supported: " + t})
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gonode lin-kv|broadcast|echo [--wrong]")
		os.Exit(2)
	}
	n := &Node{mode: os.Args[1], wrong: len(os.Args) > 2 && os.Args[2] == "--wrong",
		pending: map[int]chan map[string]interface{}{}, cache: map[string]interface{}{}, seen: map[string]bool{}}
	if n.mode == "broadcast" && !n.wrong {
		go func() {
			for range time.Tick(200 * time.Millisecond) {
				if n.id == "" {
					continue
				}
				items := n.snapshot()
				for _, p := range n.neighbours {
					n.send(p, map[string]interface{}{"type": "gossip", "items": items})
				}
			}
		}()
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m Msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			fmt.Fprintln(os.Stderr, "bad input:", err)
			continue
		}
		if irt, ok := m.Body["in_reply_to"].(float64); ok {
			n.mu.Lock()
			ch := n.pending[int(irt)]
			delete(n.pending, int(irt))
			n.mu.Unlock()
			if ch != nil {
				ch <- m.Body
			}
			continue
		}
		t, _ := m.Body["type"].(string)
		if t == "init" || t == "topology" || t == "gossip" {
			n.handle(m)
		} else {
			go n.handle(m)
		}
	}
}
