//go:build wasm

package main

// serve is the server's entry point natively; in the browser there is none.
func serve() {}
