//go:build !js

// Command browsertest is built for GOOS=js GOARCH=wasm only (see main_js.go); natively it just
// says so.
package main

import "fmt"

func main() { fmt.Println("browsertest runs in a browser: GOOS=js GOARCH=wasm go build") }
