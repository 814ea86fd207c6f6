//go:build !js

package gpu

// Natively there is no persistent store: every process tunes afresh (tools/bench -tune).
func storeGet(string) string  { return "" }
func storeSet(string, string) {}
