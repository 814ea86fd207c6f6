package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"
)

func bytesReaderAt(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// pk builds protocol-2 pickles by hand for hostile-input tests.
type pk struct{ bytes.Buffer }

func newPK() *pk {
	p := &pk{}
	p.WriteString("\x80\x02")
	return p
}

func (p *pk) op(s string) *pk { p.WriteString(s); return p }

func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	p.Write(n[:])
	p.WriteString(s)
	return p
}

func (p *pk) int(v int) *pk {
	p.WriteByte('J')
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(int32(v)))
	p.Write(n[:])
	return p
}

func (p *pk) global(mod, name string) *pk { return p.op("c" + mod + "\n" + name + "\n") }

// tensor pushes _rebuild_tensor_v2(('storage', <cls>, key, 'cuda:0', numel), off, size, stride, False, {}).
func (p *pk) tensor(cls, key string, numel, off int, size, stride []int) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2").op("(")
	p.op("(").str("storage").global("torch", cls).str(key).str("cuda:0").int(numel).op("tQ")
	p.int(off).op("(")
	for _, s := range size {
		p.int(s)
	}
	p.op("t(")
	for _, s := range stride {
		p.int(s)
	}
	p.op("t\x89}tR")
	return p
}

// zipPTH packs a pickle and storages (key → bytes) as torch.save would:
// archive/data.pkl, archive/data/<key>, archive/version, all stored.
func zipPTH(t testing.TB, pickle []byte, storages map[string][]byte, method uint16) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte, m uint16) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	add("archive/data.pkl", pickle, method)
	for k, v := range storages {
		add("archive/data/"+k, v, zip.Store)
	}
	add("archive/version", []byte("3\n"), zip.Store)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
