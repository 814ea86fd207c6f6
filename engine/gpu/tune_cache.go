package gpu

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strings"

	"github.com/slak-web/slak/wgsl"
)

// Persisting tuned choices across page loads: the app saves a model's choices after tuning and
// restores them on the next load instead of timing again. The store is the browser's
// localStorage (tune_js.go; natively there is none, tune_other.go), keyed by the adapter's
// description and features and by a hash of every WGSL file and of the subgroup GEMM's
// generated configurations, so a new browser, driver or kernel build tunes afresh.

// tuneStoreKey names the stored choices of scope (e.g. a model name) on this adapter.
func (b *Backend) tuneStoreKey(scope string) string {
	h := fnv.New64a()
	names, _ := fs.Glob(wgsl.FS, "*.wgsl")
	sort.Strings(names)
	for _, n := range names {
		src, _ := wgsl.FS.ReadFile(n)
		h.Write([]byte(n))
		h.Write(src)
	}
	fmt.Fprint(h, sgVariants) // the generated configurations the tuner chooses among (fmt sorts map keys)
	i := b.info
	// sorted: the browser lists a device's features in no fixed order (SwiftShader gave
	// "subgroups,timestamp-query" and "timestamp-query,subgroups" on two loads of one page)
	fs := append([]string(nil), i.Features...)
	sort.Strings(fs)
	return fmt.Sprintf("slak-tune/%x/%s|%s|%s|%s|%s/%s", h.Sum64(), i.Vendor, i.Architecture, i.Name, i.Driver,
		strings.Join(fs, ","), scope)
}

// encodeTuned is the stored form of the current choices (configuration key → candidate).
func (b *Backend) encodeTuned() string {
	raw, _ := json.Marshal(b.Tuned())
	return string(raw)
}

// restoreTuned applies stored choices and returns how many it applied; unknown candidates and
// keys of neither kind are ignored.
func (b *Backend) restoreTuned(stored string) int {
	var m map[string]string
	if stored == "" || json.Unmarshal([]byte(stored), &m) != nil {
		return 0
	}
	n := 0
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "dw ") && (v == TuneDirect || v == TuneFast || v == TuneSkipZero):
			b.setChoice(false, k, v)
		case strings.HasPrefix(k, "gemm ") && (v == TuneGEMM || SubgroupChoice(v)):
			b.setChoice(true, k, v)
		default:
			continue
		}
		n++
	}
	return n
}

// SaveTuned stores the current choices for scope on this adapter (browser localStorage; a no-op
// natively).
func (b *Backend) SaveTuned(scope string) { storeSet(b.tuneStoreKey(scope), b.encodeTuned()) }

// LoadTuned restores the choices SaveTuned stored for scope on this adapter and kernel build, and
// returns how many configurations it restored (0: none stored; tune).
func (b *Backend) LoadTuned(scope string) int { return b.restoreTuned(storeGet(b.tuneStoreKey(scope))) }
