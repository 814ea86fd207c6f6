//go:build js

package gpu

import "syscall/js"

// storeGet / storeSet use window.localStorage (errors, e.g. storage disabled, read as absent).
func storeGet(key string) (v string) {
	defer func() {
		if recover() != nil {
			v = ""
		}
	}()
	ls := js.Global().Get("localStorage")
	if !ls.Truthy() {
		return ""
	}
	if r := ls.Call("getItem", key); r.Type() == js.TypeString {
		return r.String()
	}
	return ""
}

func storeSet(key, v string) {
	defer func() { _ = recover() }()
	if ls := js.Global().Get("localStorage"); ls.Truthy() {
		ls.Call("setItem", key, v)
	}
}
