package weights

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"
)

// MaxHeaderBytes bounds the JSON header of a safetensors file (the reference
// implementation uses the same 100 MB limit).
const MaxHeaderBytes = 100 << 20

// File is the content of a safetensors file: tensors by name, the file order
// (ascending data offset when read), and the string→string __metadata__.
type File struct {
	Metadata map[string]string
	Tensors  map[string]*Tensor
	Order    []string
}

// NewFile returns an empty File.
func NewFile() *File {
	return &File{Metadata: map[string]string{}, Tensors: map[string]*Tensor{}}
}

// Add appends t (by its Name) to the file; a duplicate name is an error.
func (f *File) Add(t *Tensor) error {
	if _, dup := f.Tensors[t.Name]; dup {
		return fmt.Errorf("duplicate tensor %q", t.Name)
	}
	if err := t.Validate(); err != nil {
		return err
	}
	if f.Tensors == nil {
		f.Tensors = map[string]*Tensor{}
	}
	f.Tensors[t.Name] = t
	f.Order = append(f.Order, t.Name)
	return nil
}

// ErrSafetensors is wrapped by every format error of the safetensors reader.
var ErrSafetensors = errors.New("invalid safetensors file")

func stErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrSafetensors, fmt.Sprintf(format, a...))
}

type stEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// parseHeader validates the JSON header against a data section of dataLen
// bytes and returns the tensors (without data) in offset order, their
// offsets, and the metadata.
func parseHeader(h []byte, dataLen int64) (*File, [][2]int64, error) {
	// The reference implementation allows trailing spaces (alignment padding).
	h = bytes.TrimRight(h, " ")
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, stErr("header is not a JSON object")
	}
	if !utf8.Valid(h) {
		return nil, nil, stErr("header is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, stErr("header is not a JSON object")
	}
	f := NewFile()
	type item struct {
		t   *Tensor
		off [2]int64
	}
	var items []item
	sawMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, stErr("header JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, stErr("header JSON: key %v is not a string", tok)
		}
		if name == "__metadata__" {
			if sawMeta {
				return nil, nil, stErr("duplicate __metadata__")
			}
			sawMeta = true
			var m map[string]string
			if err := dec.Decode(&m); err != nil {
				return nil, nil, stErr("__metadata__ must map strings to strings: %v", err)
			}
			for k, v := range m {
				f.Metadata[k] = v
			}
			continue
		}
		if _, dup := f.Tensors[name]; dup {
			return nil, nil, stErr("duplicate tensor name %q", name)
		}
		var e stEntry
		if err := dec.Decode(&e); err != nil {
			return nil, nil, stErr("tensor %q: %v", name, err)
		}
		if !e.DType.Known() {
			return nil, nil, stErr("tensor %q: unknown dtype %q", name, e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, nil, stErr("tensor %q: data_offsets must have 2 entries, has %d", name, len(e.DataOffsets))
		}
		b, end := e.DataOffsets[0], e.DataOffsets[1]
		if b > end || end > uint64(dataLen) {
			return nil, nil, stErr("tensor %q: data_offsets [%d, %d] outside the %d-byte data section", name, b, end, dataLen)
		}
		shape := make([]int, len(e.Shape))
		for i, s := range e.Shape {
			if s < 0 || s > int64(^uint32(0)) {
				return nil, nil, stErr("tensor %q: bad dimension %d in shape %v", name, s, e.Shape)
			}
			shape[i] = int(s)
		}
		n, err := checkedNumel(shape, e.DType.Size(), dataLen)
		if err != nil {
			return nil, nil, stErr("tensor %q: %v", name, err)
		}
		if uint64(n)*uint64(e.DType.Size()) != end-b {
			return nil, nil, stErr("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d, %d] hold %d",
				name, shape, e.DType, n*int64(e.DType.Size()), b, end, end-b)
		}
		t := &Tensor{Name: name, DType: e.DType, Shape: shape}
		f.Tensors[name] = t
		items = append(items, item{t, [2]int64{int64(b), int64(end)}})
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, stErr("header JSON: %v", err)
	}
	if dec.More() || dec.InputOffset() != int64(len(h)) {
		return nil, nil, stErr("trailing bytes after the header JSON object")
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].off[0] != items[j].off[0] {
			return items[i].off[0] < items[j].off[0]
		}
		return items[i].off[1] < items[j].off[1]
	})
	// Offsets must tile [0, dataLen) exactly: no gaps, no overlaps, nothing after.
	var pos int64
	offs := make([][2]int64, len(items))
	for i, it := range items {
		if it.off[0] != pos {
			if it.off[0] < pos {
				return nil, nil, stErr("tensor %q: data [%d, %d) overlaps the previous tensor (ends at %d)", it.t.Name, it.off[0], it.off[1], pos)
			}
			return nil, nil, stErr("tensor %q: gap in the data section: starts at %d, previous tensor ends at %d", it.t.Name, it.off[0], pos)
		}
		pos = it.off[1]
		f.Order = append(f.Order, it.t.Name)
		offs[i] = it.off
	}
	if pos != dataLen {
		return nil, nil, stErr("data section is %d bytes but the tensors cover %d (truncated or padded file)", dataLen, pos)
	}
	return f, offs, nil
}

// headerLen reads and checks the 8-byte prefix against the file size.
func headerLen(prefix []byte, size int64) (int64, error) {
	if size < 8 {
		return 0, stErr("file is %d bytes, shorter than the 8-byte header length", size)
	}
	n := binary.LittleEndian.Uint64(prefix)
	if n > MaxHeaderBytes {
		return 0, stErr("header length %d exceeds the %d-byte limit", n, MaxHeaderBytes)
	}
	if n > uint64(size-8) {
		return 0, stErr("header length %d exceeds the file size %d (truncated file?)", n, size)
	}
	if n < 2 {
		return 0, stErr("header length %d is too small for a JSON object", n)
	}
	return int64(n), nil
}

// ParseSafetensors parses a whole safetensors file held in memory. Tensor
// Data slices alias b (nothing is copied), so b must not be modified while
// the File is in use.
func ParseSafetensors(b []byte) (*File, error) {
	n, err := headerLen(b, int64(len(b)))
	if err != nil {
		return nil, err
	}
	data := b[8+n:]
	f, offs, err := parseHeader(b[8:8+n], int64(len(data)))
	if err != nil {
		return nil, err
	}
	for i, name := range f.Order {
		f.Tensors[name].Data = data[offs[i][0]:offs[i][1]:offs[i][1]]
	}
	return f, nil
}

// ReadSafetensors reads a safetensors file of the given size from r.
func ReadSafetensors(r io.ReaderAt, size int64) (*File, error) {
	return ReadSafetensorsProgress(r, size, nil)
}

// ReadSafetensorsProgress is ReadSafetensors reporting progress(done, total)
// in bytes of the data section as it is read (chunks of at most 4 MiB).
func ReadSafetensorsProgress(r io.ReaderAt, size int64, progress func(done, total int64)) (*File, error) {
	var prefix [8]byte
	if size >= 8 {
		if _, err := r.ReadAt(prefix[:], 0); err != nil {
			return nil, stErr("reading header length: %v", err)
		}
	}
	n, err := headerLen(prefix[:], size)
	if err != nil {
		return nil, err
	}
	h := make([]byte, n)
	if _, err := r.ReadAt(h, 8); err != nil {
		return nil, stErr("reading header: %v", err)
	}
	dataLen := size - 8 - n
	f, offs, err := parseHeader(h, dataLen)
	if err != nil {
		return nil, err
	}
	data := make([]byte, dataLen) // bounded by the real file size
	const chunk = 4 << 20
	for done := int64(0); done < dataLen; {
		m := min(chunk, dataLen-done)
		if _, err := r.ReadAt(data[done:done+m], 8+n+done); err != nil {
			return nil, stErr("reading data at %d: %v", 8+n+done, err)
		}
		done += m
		if progress != nil {
			progress(done, dataLen)
		}
	}
	for i, name := range f.Order {
		f.Tensors[name].Data = data[offs[i][0]:offs[i][1]:offs[i][1]]
	}
	return f, nil
}

// header builds the JSON header (padded with spaces to a multiple of 8
// bytes, as the reference writer does) for the tensors in f.Order.
func (f *File) header() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	if len(f.Metadata) > 0 {
		m, err := json.Marshal(f.Metadata) // keys sorted: deterministic output
		if err != nil {
			return nil, err
		}
		buf.WriteString(`"__metadata__":`)
		buf.Write(m)
		first = false
	}
	if len(f.Order) != len(f.Tensors) {
		return nil, fmt.Errorf("safetensors: File.Order lists %d names but Tensors holds %d", len(f.Order), len(f.Tensors))
	}
	var off int64
	for _, name := range f.Order {
		t, ok := f.Tensors[name]
		if !ok {
			return nil, fmt.Errorf("safetensors: File.Order names %q, which is not in Tensors", name)
		}
		if name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: a tensor cannot be named __metadata__")
		}
		if err := t.Validate(); err != nil {
			return nil, err
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(name)
		buf.Write(k)
		buf.WriteString(`:{"dtype":"`)
		buf.WriteString(string(t.DType))
		buf.WriteString(`","shape":[`)
		for i, s := range t.Shape {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(s))
		}
		end := off + int64(len(t.Data))
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), nil
}

// WriteSafetensors writes f in f.Order with its metadata.
func WriteSafetensors(w io.Writer, f *File) error {
	h, err := f.header()
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(h)))
	bw.Write(prefix[:])
	bw.Write(h)
	for _, name := range f.Order {
		if _, err := bw.Write(f.Tensors[name].Data); err != nil {
			return err
		}
	}
	return bw.Flush()
}
