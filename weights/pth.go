package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/big"
	"path"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Checkpoint is the model state found in a torch.save file.
type Checkpoint struct {
	// StateDict holds the tensors of the chosen state dict under their names
	// as stored (a "module." prefix is kept; see StripPrefix).
	StateDict map[string]*Tensor
	Order     []string // the stored order of StateDict
	// From is the top-level key the state dict came from: "model",
	// "model_ema", "state_dict", "module", or "" for a bare state dict.
	From    string
	TopKeys []string // the top-level keys, in file order (nil for a bare state dict)
	// Args is the pickled argparse.Namespace (or dict) under "args", as plain
	// Go values (map[string]any, []any, int64, float64, string, bool, nil).
	Args map[string]any
	// Extra holds the other top-level entries that are plain values (e.g.
	// "epoch"); optimizer and scaler state is parsed but not kept.
	Extra map[string]any
}

// ErrPTH is wrapped by every error of ReadPTH about the file's content.
var ErrPTH = errors.New("invalid .pth checkpoint")

func pthErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrPTH, fmt.Sprintf(format, a...))
}

// Limits for what a checkpoint may contain besides tensor data.
const (
	maxPickleBytes = 256 << 20 // data.pkl of SLaK-B with optimizer state is ~1 MB
	maxZipEntries  = 1 << 20
	maxValueNodes  = 1 << 20 // nodes visited when converting args/extra values
	maxValueDepth  = 64
)

// storageClass is one of torch's typed storage classes (torch.FloatStorage …).
type storageClass struct {
	name  string
	dtype DType
}

var storageClasses = map[string]DType{
	"FloatStorage":    F32,
	"HalfStorage":     F16,
	"BFloat16Storage": BF16,
	"DoubleStorage":   F64,
	"LongStorage":     I64,
	"IntStorage":      I32,
	"ShortStorage":    I16,
	"CharStorage":     I8,
	"ByteStorage":     U8,
	"BoolStorage":     BOOL,
}

// allowedClass is the complete list of classes a tensor checkpoint may name.
func allowedClass(module, name string) bool {
	switch module {
	case "torch._utils":
		return name == "_rebuild_tensor_v2" || name == "_rebuild_parameter"
	case "collections":
		return name == "OrderedDict"
	case "argparse":
		return name == "Namespace"
	case "torch":
		_, ok := storageClasses[name]
		return ok || name == "Size"
	case "builtins", "__builtin__":
		return name == "set" || name == "frozenset"
	}
	return false
}

func refuseClass(module, name string) error {
	return pthErr("refusing to load class %s.%s: not a tensor checkpoint", module, name)
}

// storageRef is a persistent storage reference ('storage', class, key, location, numel).
type storageRef struct {
	key   string
	dtype DType
	numel int64
	entry *zip.File
	data  []byte // read on first use
}

// lazyTensor is what _rebuild_tensor_v2 returns: a view description whose
// bytes are only read if the tensor ends up in the chosen state dict.
type lazyTensor struct {
	st     *storageRef
	offset int64
	size   []int
	stride []int64
}

// namespace is a pickled argparse.Namespace.
type namespace struct{ attrs map[string]any }

func (n *namespace) PyDictSet(k, v any) error {
	s, ok := k.(string)
	if !ok {
		return pthErr("argparse.Namespace attribute name %v is not a string", k)
	}
	n.attrs[s] = v
	return nil
}

type namespaceClass struct{}

func (namespaceClass) PyNew(args ...any) (any, error) {
	return &namespace{attrs: map[string]any{}}, nil
}
func (namespaceClass) Call(args ...any) (any, error) { return &namespace{attrs: map[string]any{}}, nil }

type callFunc func(args ...any) (any, error)

func (f callFunc) Call(args ...any) (any, error) { return f(args...) }

// pthReader holds the state of one ReadPTH call.
type pthReader struct {
	r        io.ReaderAt
	size     int64
	prefix   string
	entries  map[string]*zip.File
	storages map[string]*storageRef
}

// ReadPTH reads a torch.save checkpoint (zip format, PyTorch ≥ 1.6) of the
// given size. Only tensors of the chosen state dict are read into memory.
func ReadPTH(r io.ReaderAt, size int64) (ck *Checkpoint, err error) {
	defer func() {
		// Last line of defence only: the known panics of gopickle v0.2.0
		// (odd DICT/SETITEMS, bytes as a dict key, zero-length LONG,
		// opcode 0xff) are refused by scanPickle before unpickling, and the
		// fuzz targets fail on any panic recovered here.
		if p := recover(); p != nil {
			ck, err = nil, pthErr("malformed pickle (%v)", p)
		}
	}()
	var magic [4]byte
	if size < 4 {
		return nil, pthErr("file is %d bytes: too short for a checkpoint", size)
	}
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, pthErr("reading: %v", err)
	}
	switch {
	case string(magic[:]) == "PK\x03\x04":
	case magic[0] == 0x80:
		return nil, pthErr("legacy (non-zip) torch.save format: re-save with torch>=1.6 (torch.save(torch.load(f), f2))")
	case magic[0] == '<' || bytes.HasPrefix(bytes.ToLower(bytes.TrimSpace(magic[:])), []byte("<")):
		return nil, pthErr("this is an HTML page, not a checkpoint (a download link that needs a browser?)")
	default:
		return nil, pthErr("not a torch.save zip file (starts with % x)", magic[:])
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, pthErr("zip: %v", err)
	}
	if len(zr.File) > maxZipEntries {
		return nil, pthErr("zip has %d entries", len(zr.File))
	}
	pr := &pthReader{r: r, size: size, entries: map[string]*zip.File{}, storages: map[string]*storageRef{}}
	var pkl *zip.File
	for _, f := range zr.File {
		if _, dup := pr.entries[f.Name]; dup {
			return nil, pthErr("zip: duplicate entry %q", f.Name)
		}
		pr.entries[f.Name] = f
		// Every entry's claimed size must fit the file, whether it is read or not.
		if f.CompressedSize64 > uint64(size) || (f.Method == zip.Store && f.UncompressedSize64 != f.CompressedSize64) {
			return nil, pthErr("zip entry %s claims %d bytes (%d stored) in a %d-byte file (truncated or corrupted?)",
				f.Name, f.UncompressedSize64, f.CompressedSize64, size)
		}
		dir, base := path.Split(f.Name)
		if base == "data.pkl" && strings.Count(f.Name, "/") == 1 {
			if pkl != nil {
				return nil, pthErr("zip holds two pickles (%s and %s)", pkl.Name, f.Name)
			}
			pkl, pr.prefix = f, dir
		}
	}
	if pkl == nil {
		return nil, pthErr("zip has no <name>/data.pkl: not a torch.save checkpoint")
	}
	if bo, ok := pr.entries[pr.prefix+"byteorder"]; ok {
		b, err := pr.readEntry(bo, 16)
		if err != nil {
			return nil, err
		}
		if string(b) != "little" {
			return nil, pthErr("byteorder %q: only little-endian checkpoints are supported", b)
		}
	}
	p, err := pr.readEntry(pkl, maxPickleBytes)
	if err != nil {
		return nil, err
	}
	if err := scanPickle(p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPTH, err)
	}
	u := pickle.NewUnpickler(bytes.NewReader(p))
	u.FindClass = pr.findClass
	u.PersistentLoad = pr.persistentLoad
	top, err := u.Load()
	if err != nil {
		if errors.Is(err, ErrPTH) {
			return nil, err
		}
		return nil, pthErr("unpickling %s: %v", pkl.Name, err)
	}
	return pr.checkpoint(top)
}

// readEntry returns the bytes of a stored (uncompressed) zip entry after
// checking its extent against the file and its CRC-32.
func (pr *pthReader) readEntry(f *zip.File, limit int64) ([]byte, error) {
	if f.Method != zip.Store {
		return nil, pthErr("zip entry %s is compressed (method %d): torch.save writes uncompressed entries", f.Name, f.Method)
	}
	if f.CompressedSize64 != f.UncompressedSize64 {
		return nil, pthErr("zip entry %s: stored entry with sizes %d != %d", f.Name, f.CompressedSize64, f.UncompressedSize64)
	}
	off, err := f.DataOffset()
	if err != nil {
		return nil, pthErr("zip entry %s: %v", f.Name, err)
	}
	n := f.UncompressedSize64
	if off < 0 || off > pr.size || n > uint64(pr.size-off) {
		return nil, pthErr("zip entry %s claims %d bytes at offset %d, beyond the %d-byte file (truncated?)", f.Name, n, off, pr.size)
	}
	if int64(n) > limit {
		return nil, pthErr("zip entry %s is %d bytes, more than the %d allowed", f.Name, n, limit)
	}
	b := make([]byte, n)
	if _, err := pr.r.ReadAt(b, off); err != nil && !(err == io.EOF && n == 0) {
		return nil, pthErr("zip entry %s: %v", f.Name, err)
	}
	if crc32.ChecksumIEEE(b) != f.CRC32 {
		return nil, pthErr("zip entry %s: CRC-32 mismatch (corrupted or tampered file)", f.Name)
	}
	return b, nil
}

func (pr *pthReader) findClass(module, name string) (any, error) {
	if !allowedClass(module, name) {
		return nil, refuseClass(module, name)
	}
	switch module {
	case "torch._utils":
		if name == "_rebuild_tensor_v2" {
			return callFunc(rebuildTensor), nil
		}
		return callFunc(rebuildParameter), nil
	case "argparse":
		return namespaceClass{}, nil
	case "builtins", "__builtin__": // set(list) / frozenset(list): keep the items as a list
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 0 {
				return types.NewList(), nil
			}
			return args[0], nil
		}), nil
	case "torch":
		if name == "Size" {
			return callFunc(func(args ...any) (any, error) {
				if len(args) != 1 {
					return nil, pthErr("torch.Size takes 1 argument, got %d", len(args))
				}
				return args[0], nil
			}), nil
		}
		return &storageClass{name: name, dtype: storageClasses[name]}, nil
	}
	return nil, refuseClass(module, name) // collections.OrderedDict is handled inside gopickle
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case bool: // pickle protocol 0 spells 0/1 as False/True
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func intTuple(v any, what string) ([]int64, error) {
	var items []any
	switch x := v.(type) {
	case *types.Tuple:
		items = *x
	case *types.List:
		items = *x
	default:
		return nil, pthErr("%s is %T, not a tuple", what, v)
	}
	if len(items) > 64 {
		return nil, pthErr("%s has %d dimensions", what, len(items))
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := asInt(it)
		if !ok || n < 0 {
			return nil, pthErr("%s[%d] = %v is not a non-negative integer", what, i, it)
		}
		out[i] = n
	}
	return out, nil
}

func (pr *pthReader) persistentLoad(pid any) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || len(*t) != 5 {
		return nil, pthErr("persistent id %v is not ('storage', type, key, location, numel)", pid)
	}
	if s, _ := t.Get(0).(string); s != "storage" {
		return nil, pthErr("persistent id kind %v is not 'storage'", t.Get(0))
	}
	cls, ok := t.Get(1).(*storageClass)
	if !ok {
		return nil, pthErr("persistent id storage type %v is not a torch storage class", t.Get(1))
	}
	key, ok := t.Get(2).(string)
	if !ok {
		return nil, pthErr("storage key %v is not a string", t.Get(2))
	}
	// t.Get(3) is the location ("cpu", "cuda:0", …): ignored, everything loads to the CPU.
	numel, ok := asInt(t.Get(4))
	if !ok || numel < 0 {
		return nil, pthErr("storage %s: element count %v is not a non-negative integer", key, t.Get(4))
	}
	if st, ok := pr.storages[key]; ok {
		if st.dtype != cls.dtype || st.numel != numel {
			return nil, pthErr("storage %s referenced as %s[%d] and %s[%d]", key, st.dtype, st.numel, cls.dtype, numel)
		}
		return st, nil
	}
	name := pr.prefix + "data/" + key
	e, ok := pr.entries[name]
	if !ok {
		return nil, pthErr("storage %s: zip entry %s is missing (truncated file?)", key, name)
	}
	if numel > int64(e.UncompressedSize64)/int64(cls.dtype.Size()) || numel > pr.size {
		return nil, pthErr("storage %s claims %d %s elements but its zip entry holds %d bytes", key, numel, cls.dtype, e.UncompressedSize64)
	}
	st := &storageRef{key: key, dtype: cls.dtype, numel: numel, entry: e}
	pr.storages[key] = st
	return st, nil
}

// rebuildTensor implements torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
// as a lazy view after checking that it stays inside the storage.
func rebuildTensor(args ...any) (any, error) {
	if len(args) < 4 || len(args) > 7 {
		return nil, pthErr("_rebuild_tensor_v2 with %d arguments", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, pthErr("_rebuild_tensor_v2: first argument %T is not a storage", args[0])
	}
	off, ok := asInt(args[1])
	if !ok || off < 0 {
		return nil, pthErr("_rebuild_tensor_v2: storage offset %v", args[1])
	}
	size, err := intTuple(args[2], "tensor size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "tensor stride")
	if err != nil {
		return nil, err
	}
	if len(size) != len(stride) {
		return nil, pthErr("tensor size %v and stride %v differ in rank", size, stride)
	}
	// Highest element index touched: off + Σ (size_i − 1)·stride_i, checked without overflow.
	empty := false
	for _, s := range size {
		if s == 0 {
			empty = true
		}
	}
	sz := make([]int, len(size))
	for i, s := range size {
		if s > st.numel && !empty {
			return nil, pthErr("tensor size %v exceeds its storage of %d elements", size, st.numel)
		}
		if s > math.MaxInt32 {
			return nil, pthErr("tensor size %v too large", size)
		}
		sz[i] = int(s)
	}
	if !empty {
		last := off
		for i := range size {
			if stride[i] > st.numel || (size[i]-1) > 0 && stride[i] > (math.MaxInt64-last)/(size[i]-1) {
				return nil, pthErr("tensor size %v stride %v runs past its storage of %d elements", size, stride, st.numel)
			}
			last += (size[i] - 1) * stride[i]
		}
		if last >= st.numel {
			return nil, pthErr("tensor (offset %d, size %v, stride %v) runs past its storage of %d elements", off, size, stride, st.numel)
		}
		// A view with more elements than its storage repeats elements
		// (stride 0 / overlapping strides); a state dict never holds one,
		// and gathering it could allocate far more than the file holds.
		if _, err := checkedNumel(sz, 1, st.numel); err != nil {
			return nil, pthErr("tensor size %v has more elements than its storage (%d)", size, st.numel)
		}
	}
	return &lazyTensor{st: st, offset: off, size: sz, stride: stride}, nil
}

// rebuildParameter implements torch._utils._rebuild_parameter(data, requires_grad, backward_hooks).
func rebuildParameter(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, pthErr("_rebuild_parameter without arguments")
	}
	if _, ok := args[0].(*lazyTensor); !ok {
		return nil, pthErr("_rebuild_parameter of %T, not a tensor", args[0])
	}
	return args[0], nil
}

// materialize reads the storage (once) and returns the view's elements in
// C-contiguous order.
func (pr *pthReader) materialize(name string, lt *lazyTensor) (*Tensor, error) {
	st := lt.st
	es := int64(st.dtype.Size())
	if st.data == nil {
		b, err := pr.readEntry(st.entry, int64(st.entry.UncompressedSize64))
		if err != nil {
			return nil, err
		}
		st.data = b[:st.numel*es]
	}
	t := &Tensor{Name: name, DType: st.dtype, Shape: lt.size}
	n := int64(t.NumElements())
	if n == 0 {
		t.Data = []byte{}
		return t, nil
	}
	contiguous := true
	want := int64(1)
	for i := len(lt.size) - 1; i >= 0; i-- {
		if lt.size[i] != 1 && lt.stride[i] != want {
			contiguous = false
		}
		want *= int64(lt.size[i])
	}
	if contiguous {
		t.Data = st.data[lt.offset*es : (lt.offset+n)*es : (lt.offset+n)*es]
		return t, nil
	}
	// Gather a strided view element by element (odometer over the index).
	t.Data = make([]byte, n*es) // n ≤ storage elements (checked in rebuildTensor)
	idx := make([]int, len(lt.size))
	src := lt.offset
	for k := int64(0); k < n; k++ {
		copy(t.Data[k*es:(k+1)*es], st.data[src*es:(src+1)*es])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			src += lt.stride[d]
			if idx[d] < lt.size[d] {
				break
			}
			src -= int64(idx[d]) * lt.stride[d]
			idx[d] = 0
		}
	}
	return t, nil
}

// dictItems returns the (key, value) pairs of a pickled dict in order.
func dictItems(v any) ([][2]any, bool) {
	switch d := v.(type) {
	case *types.Dict:
		out := make([][2]any, 0, len(*d))
		for _, e := range *d {
			out = append(out, [2]any{e.Key, e.Value})
		}
		return out, true
	case *types.OrderedDict:
		out := make([][2]any, 0, d.Len())
		for e := d.List.Front(); e != nil; e = e.Next() {
			oe := e.Value.(*types.OrderedDictEntry)
			out = append(out, [2]any{oe.Key, oe.Value})
		}
		return out, true
	}
	return nil, false
}

// tensorDict reports whether v is a non-empty dict of string → tensor.
func tensorDict(v any) ([][2]any, bool) {
	items, ok := dictItems(v)
	if !ok || len(items) == 0 {
		return nil, false
	}
	for _, it := range items {
		if _, ok := it[0].(string); !ok {
			return nil, false
		}
		if _, ok := it[1].(*lazyTensor); !ok {
			return nil, false
		}
	}
	return items, true
}

// stateDictKeys are the top-level keys that hold a state dict, by preference
// (main.py --eval loads "model").
var stateDictKeys = []string{"model", "model_ema", "state_dict", "module"}

func (pr *pthReader) checkpoint(top any) (*Checkpoint, error) {
	items, ok := dictItems(top)
	if !ok {
		return nil, pthErr("top-level object is %s, not a dict", typeName(top))
	}
	ck := &Checkpoint{StateDict: map[string]*Tensor{}, Extra: map[string]any{}}
	var sd [][2]any
	if tsd, ok := tensorDict(top); ok {
		sd = tsd // bare state dict
	} else {
		byKey := map[string]any{}
		for _, it := range items {
			k, ok := it[0].(string)
			if !ok {
				return nil, pthErr("top-level key %v is not a string", it[0])
			}
			ck.TopKeys = append(ck.TopKeys, k)
			byKey[k] = it[1]
		}
		for _, k := range stateDictKeys {
			v, ok := byKey[k]
			if !ok {
				continue
			}
			tsd, ok := tensorDict(v)
			if !ok {
				return nil, pthErr("checkpoint[%q] is %s, not a state dict of tensors", k, describe(v))
			}
			sd, ck.From = tsd, k
			break
		}
		if sd == nil {
			return nil, pthErr("no state dict: top-level keys are %v; expected one of %v or a bare dict of tensors", ck.TopKeys, stateDictKeys)
		}
		budget := maxValueNodes
		for _, k := range ck.TopKeys {
			switch k {
			case "optimizer", "scaler", "lr_scheduler", "model", "model_ema", "state_dict", "module":
				continue
			case "args":
				v := toGo(byKey[k], 0, &budget)
				if m, ok := v.(map[string]any); ok {
					ck.Args = m
				} else {
					ck.Extra[k] = v
				}
			default:
				ck.Extra[k] = toGo(byKey[k], 0, &budget)
			}
		}
	}
	for _, it := range sd {
		name := it[0].(string)
		if _, dup := ck.StateDict[name]; dup {
			return nil, pthErr("state dict has %q twice", name)
		}
		t, err := pr.materialize(name, it[1].(*lazyTensor))
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		ck.StateDict[name] = t
		ck.Order = append(ck.Order, name)
	}
	return ck, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case *types.Dict, *types.OrderedDict:
		return "a dict"
	case *types.List:
		return "a list"
	case *types.Tuple:
		return "a tuple"
	case *lazyTensor:
		return "a tensor"
	case string:
		return "a string"
	case int, *big.Int:
		return "an int"
	case float64:
		return "a float"
	}
	return fmt.Sprintf("a %T", v)
}

// describe names what a value is, for errors about the wrong kind of entry.
func describe(v any) string {
	items, ok := dictItems(v)
	if !ok {
		return typeName(v)
	}
	for _, it := range items {
		if _, ok := it[1].(*lazyTensor); !ok {
			return fmt.Sprintf("a dict whose entry %v is %s", it[0], typeName(it[1]))
		}
	}
	return "an empty dict"
}

// toGo converts a pickled value to plain Go values for metadata, bounded in
// depth and total nodes (a pickle can build deeply nested or heavily shared
// structures from a few bytes); tensors become a short description.
func toGo(v any, depth int, budget *int) any {
	*budget--
	if *budget < 0 || depth > maxValueDepth {
		return "…"
	}
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case int:
		return int64(x)
	case *big.Int:
		return x.String()
	case []byte:
		return fmt.Sprintf("<%d bytes>", len(x))
	case *lazyTensor:
		return fmt.Sprintf("<tensor %s%v>", x.st.dtype, x.size)
	case *types.Tuple:
		return toGoList(*x, depth, budget)
	case *types.List:
		return toGoList(*x, depth, budget)
	case *namespace:
		m := map[string]any{}
		keys := make([]string, 0, len(x.attrs))
		for k := range x.attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m[k] = toGo(x.attrs[k], depth+1, budget)
		}
		return m
	}
	if items, ok := dictItems(v); ok {
		m := map[string]any{}
		for _, it := range items {
			m[fmt.Sprint(toGo(it[0], depth+1, budget))] = toGo(it[1], depth+1, budget)
		}
		return m
	}
	return fmt.Sprintf("<%T>", v)
}

func toGoList(items []any, depth int, budget *int) []any {
	out := make([]any, 0, min(len(items), 1024))
	for _, it := range items {
		if *budget < 0 {
			break
		}
		out = append(out, toGo(it, depth+1, budget))
	}
	return out
}

// StripPrefix removes a prefix shared by every state-dict key when it is
// one that training wrappers add ("module." from DistributedDataParallel,
// "backbone." from detection/segmentation frameworks) and returns it ("" if
// none was stripped).
func (c *Checkpoint) StripPrefix() string {
	for _, p := range []string{"module.", "backbone."} {
		all := len(c.Order) > 0
		for _, k := range c.Order {
			if !strings.HasPrefix(k, p) {
				all = false
				break
			}
		}
		if !all {
			continue
		}
		sd := make(map[string]*Tensor, len(c.StateDict))
		for i, k := range c.Order {
			t := c.StateDict[k]
			t.Name = strings.TrimPrefix(k, p)
			if _, dup := sd[t.Name]; dup {
				return "" // cannot happen for distinct keys sharing a prefix
			}
			sd[t.Name] = t
			c.Order[i] = t.Name
		}
		c.StateDict = sd
		return p
	}
	return ""
}
