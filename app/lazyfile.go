package main

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// A dropped weight file is never copied into wasm memory whole: lazyFile reads
// it on demand (in the browser through Blob.slice().arrayBuffer(), see
// blobFetch), so an official .pth that also carries optimizer and EMA state
// (≈ 4× the model, SLAK.md §2.1) costs only the tensors weights.ReadPTH
// actually materializes. Small reads (the zip directory, pickle, headers) are
// served from one aligned read-ahead block so they do not each cost a round
// trip to JavaScript.

// Size limits checked against File.size before anything is read.
const (
	sniffBytes        = 64 << 10  // what sniff sees of a file
	maxImageFileBytes = 256 << 20 // larger than any photo worth decoding (50 MP PNG ≈ 150 MB)
	lazyBlock         = 1 << 20   // read-ahead block for small reads
)

// lazyFile is an io.ReaderAt over fetch(off, n), which returns exactly the n
// bytes at off (off+n ≤ size). Safe for concurrent use.
type lazyFile struct {
	size  int64
	fetch func(off int64, n int) ([]byte, error)

	mu    sync.Mutex
	bOff  int64 // offset of blk in the file
	blk   []byte
	reads int // fetch calls, for tests
}

func newLazyFile(size int64, fetch func(off int64, n int) ([]byte, error)) *lazyFile {
	return &lazyFile{size: size, fetch: fetch, bOff: -1}
}

func (f *lazyFile) Size() int64 { return f.size }

// ReadAt implements io.ReaderAt: it fills p from off, returning io.EOF when
// p reaches past the end of the file.
func (f *lazyFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("lazy file: negative offset")
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := p
	if rest := f.size - off; int64(len(p)) > rest {
		want = p[:rest]
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for n < len(want) {
		pos := off + int64(n)
		if f.bOff >= 0 && pos >= f.bOff && pos < f.bOff+int64(len(f.blk)) {
			n += copy(want[n:], f.blk[pos-f.bOff:])
			continue
		}
		if len(want)-n >= lazyBlock {
			// Large reads (tensor storages) go straight to the caller's buffer.
			b, err := f.get(pos, len(want)-n)
			if err != nil {
				return n, err
			}
			n += copy(want[n:], b)
			continue
		}
		start := pos / lazyBlock * lazyBlock
		end := min(start+lazyBlock, f.size)
		b, err := f.get(start, int(end-start))
		if err != nil {
			return n, err
		}
		f.bOff, f.blk = start, b
	}
	if len(want) < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *lazyFile) get(off int64, n int) ([]byte, error) {
	f.reads++
	b, err := f.fetch(off, n)
	if err != nil {
		return nil, fmt.Errorf("reading bytes %d–%d of the file: %w", off, off+int64(n), err)
	}
	if len(b) != n {
		return nil, fmt.Errorf("reading bytes %d–%d of the file: got %d bytes (was the file changed or removed since it was chosen?)", off, off+int64(n), len(b))
	}
	return b, nil
}

// progressReader reports done/total to fn as r is read.
type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	p.fn(p.done, p.total)
	return n, err
}
