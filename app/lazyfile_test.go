//go:build !wasm

package main

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/slak-web/slak/weights"
)

func sliceFetch(data []byte) func(off int64, n int) ([]byte, error) {
	return func(off int64, n int) ([]byte, error) {
		return append([]byte(nil), data[off:off+int64(n)]...), nil
	}
}

// TestLazyFileReadAt: random reads of every size class (inside one block,
// across blocks, larger than a block, past the end) return the file's bytes
// with io.ReaderAt's EOF rules.
func TestLazyFileReadAt(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	data := make([]byte, 3*lazyBlock+12345)
	rng.Read(data)
	f := newLazyFile(int64(len(data)), sliceFetch(data))
	for i := 0; i < 2000; i++ {
		off := rng.Int63n(int64(len(data)) + 10)
		var n int
		switch i % 4 {
		case 0:
			n = rng.Intn(64)
		case 1:
			n = rng.Intn(lazyBlock)
		case 2:
			n = lazyBlock + rng.Intn(2*lazyBlock)
		default:
			n = int(int64(len(data)) - off + int64(rng.Intn(9))) // up to and past the end
			if n < 0 {
				n = 0
			}
		}
		p := make([]byte, n)
		got, err := f.ReadAt(p, off)
		wantN := 0
		if off < int64(len(data)) {
			wantN = min(n, len(data)-int(off))
		}
		if got != wantN {
			t.Fatalf("ReadAt(%d bytes, off %d) = %d bytes, want %d", n, off, got, wantN)
		}
		if wantN < n && err != io.EOF {
			t.Fatalf("ReadAt(%d bytes, off %d) past the end: err = %v, want io.EOF", n, off, err)
		}
		if wantN == n && err != nil {
			t.Fatalf("ReadAt(%d bytes, off %d): %v", n, off, err)
		}
		if !bytes.Equal(p[:got], data[off:off+int64(got)]) {
			t.Fatalf("ReadAt(%d bytes, off %d): wrong bytes", n, off)
		}
	}
}

// TestLazyFileSmallReadsBatched: sequential small reads cost one fetch per
// read-ahead block, not one per read.
func TestLazyFileSmallReadsBatched(t *testing.T) {
	data := make([]byte, 2*lazyBlock)
	f := newLazyFile(int64(len(data)), sliceFetch(data))
	p := make([]byte, 100)
	for off := int64(0); off+100 <= int64(len(data)); off += 100 {
		if _, err := f.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
	if f.reads != 2 { // block 0 and block 1; the read straddling them takes from both
		t.Errorf("%d fetches for %d sequential 100-byte reads, want 2", f.reads, len(data)/100)
	}
}

// TestLazyFileErrors: a failing or short fetch (file removed or changed
// after it was chosen) is an error naming the byte range, never a panic or
// silently short data.
func TestLazyFileErrors(t *testing.T) {
	boom := errors.New("NotReadableError")
	f := newLazyFile(10<<20, func(off int64, n int) ([]byte, error) { return nil, boom })
	if _, err := f.ReadAt(make([]byte, 10), 5); !errors.Is(err, boom) {
		t.Errorf("failing fetch: err = %v, want it wrapped", err)
	}
	short := newLazyFile(10<<20, func(off int64, n int) ([]byte, error) { return make([]byte, n/2), nil })
	if _, err := short.ReadAt(make([]byte, 2*lazyBlock), 0); err == nil {
		t.Error("short fetch: no error")
	}
	if _, err := short.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("negative offset: no error")
	}
}

// TestLazyFilePTH: the official-layout checkpoint reads through the lazy
// reader tensor for tensor as from memory, fetching each byte about once.
func TestLazyFilePTH(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "slak_tiny", "checkpoint.pth"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := weights.ReadPTH(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var fetched int64
	fetch := sliceFetch(raw)
	f := newLazyFile(int64(len(raw)), func(off int64, n int) ([]byte, error) {
		fetched += int64(n)
		return fetch(off, n)
	})
	got, err := weights.ReadPTH(f, f.Size())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Order) != len(want.Order) {
		t.Fatalf("%d tensors through the lazy reader, %d from memory", len(got.Order), len(want.Order))
	}
	for _, k := range want.Order {
		if !bytes.Equal(got.StateDict[k].Data, want.StateDict[k].Data) {
			t.Fatalf("tensor %s differs through the lazy reader", k)
		}
	}
	if fetched > int64(len(raw))+lazyBlock {
		t.Errorf("fetched %d bytes for a %d-byte file", fetched, len(raw))
	}
}
