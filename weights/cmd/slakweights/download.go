package main

import (
	"bytes"
	"context"

	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/slak-web/slak/weights"
)

// source says where the official checkpoint of a variant comes from.
type source struct {
	URL    string // direct link, or "" when only a browser can fetch it
	README string // where the official README lists it
	Note   string
}

// sources lists the official checkpoints (links as the READMEs give them).
var sources = map[string]source{
	"convnext_t": {
		URL:    "https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224_ema.pth",
		README: "https://github.com/facebookresearch/ConvNeXt#results-and-pre-trained-models (ConvNeXt-T, ImageNet-1K, 224, EMA)",
	},
	"slak_t": {
		README: "https://github.com/VITA-Group/SLaK#results-and-imagenet-1k-trained-models (SLaK-T, 51x51)",
		Note:   "the README links Google Drive / SURFdrive, which need a browser",
	},
	"slak_s": {
		README: "https://github.com/VITA-Group/SLaK#results-and-imagenet-1k-trained-models (SLaK-S, 51x51)",
		Note:   "the README links Google Drive / SURFdrive, which need a browser",
	},
	"slak_b": {
		README: "https://github.com/VITA-Group/SLaK#results-and-imagenet-1k-trained-models (SLaK-B, 51x51)",
		Note:   "the README links Google Drive / SURFdrive, which need a browser",
	},
	"slak_t31": {
		README: "https://github.com/VITA-Group/SLaK (SLaK-T 31x31, 120 epochs; convert with -variant slak_t31, SLaK#16)",
		Note:   "the README links Google Drive / SURFdrive, which need a browser",
	},
	"replknet_31b": {
		README: "https://github.com/DingXiaoH/RepLKNet-pytorch#imagenet-1k-pretrained-models (RepLKNet-31B, ImageNet-1K, 224)",
		Note:   "the README links Google Drive / Baidu, which need a browser",
	},
}

// downloadOptions bounds a download.
type downloadOptions struct {
	Client   *http.Client
	MaxBytes int64         // refuse anything larger (default 4 GiB)
	Stall    time.Duration // abort when no byte arrives for this long (default 60 s)
	Progress func(done, total int64)
}

// download fetches url into out: the body goes to out+".part", is checked
// (HTTP status, not an HTML page, Content-Length, size limit, a torch.save
// checkpoint that ReadPTH accepts) and only then renamed to out.
func download(ctx context.Context, url, out string, opt downloadOptions) (int64, error) {
	if opt.Client == nil {
		opt.Client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: 60 * time.Second,
			TLSHandshakeTimeout:   30 * time.Second,
		}}
	}
	if opt.MaxBytes == 0 {
		opt.MaxBytes = 4 << 30
	}
	if opt.Stall == 0 {
		opt.Stall = 60 * time.Second
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := opt.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("download %s: HTTP %s", url, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" {
		return 0, fmt.Errorf("download %s: the server sent an HTML page, not a checkpoint (a link that needs a browser, e.g. Google Drive?): download it manually", url)
	}
	total := resp.ContentLength // -1 when unknown
	if total > opt.MaxBytes {
		return 0, fmt.Errorf("download %s: %d bytes is more than the %d-byte limit", url, total, opt.MaxBytes)
	}
	part := out + ".part"
	f, err := os.Create(part)
	if err != nil {
		return 0, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(part)
		}
	}()
	// Stall watchdog: every read that returns data pushes the deadline back.
	timer := time.AfterFunc(opt.Stall, func() {
		cancel(fmt.Errorf("no data for %v", opt.Stall))
	})
	defer timer.Stop()
	var n int64
	var head []byte
	buf := make([]byte, 1<<20)
	for {
		m, rerr := resp.Body.Read(buf)
		if m > 0 {
			timer.Reset(opt.Stall)
			if len(head) < 512 {
				head = append(head, buf[:min(m, 512-len(head))]...)
			}
			if n+int64(m) > opt.MaxBytes {
				return n, fmt.Errorf("download %s: more than the %d-byte limit", url, opt.MaxBytes)
			}
			if _, err := f.Write(buf[:m]); err != nil {
				return n, err
			}
			n += int64(m)
			if opt.Progress != nil {
				opt.Progress(n, total)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if c := context.Cause(ctx); c != nil {
				rerr = c
			}
			if total >= 0 {
				return n, fmt.Errorf("download %s: truncated after %d of %d bytes: %w", url, n, total, rerr)
			}
			return n, fmt.Errorf("download %s: failed after %d bytes: %w", url, n, rerr)
		}
	}
	if total >= 0 && n != total {
		return n, fmt.Errorf("download %s: truncated: got %d of %d bytes", url, n, total)
	}
	if t := bytes.TrimSpace(head); len(t) > 0 && t[0] == '<' {
		return n, fmt.Errorf("download %s: the server sent an HTML page, not a checkpoint (a link that needs a browser?): download it manually", url)
	}
	if !bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return n, fmt.Errorf("download %s: not a torch.save checkpoint (no zip signature)", url)
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if _, err := weights.ReadPTH(f, n); err != nil {
		return n, fmt.Errorf("download %s: the file does not read as a checkpoint: %w", url, err)
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	if err := os.Rename(part, out); err != nil {
		return n, err
	}
	ok = true
	return n, nil
}

func cmdDownload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("download", flag.ContinueOnError)
	fs.SetOutput(stderr)
	variant := fs.String("variant", "", "model variant whose official checkpoint to fetch")
	out := fs.String("out", "", "output .pth file")
	url := fs.String("url", "", "download from this URL instead of the official link")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *out == "" || (*variant == "" && *url == "") || fs.NArg() != 0 {
		return fmt.Errorf("%w: download needs -out and -variant (or -url)", errUsage)
	}
	u := *url
	if u == "" {
		src, ok := sources[strings.ReplaceAll(strings.ToLower(*variant), "-", "_")]
		if !ok {
			names := make([]string, 0, len(sources))
			for k := range sources {
				names = append(names, k)
			}
			sort.Strings(names)
			return fmt.Errorf("no official checkpoint known for variant %q (known: %s)", *variant, strings.Join(names, ", "))
		}
		if src.URL == "" {
			return fmt.Errorf("no direct download for %s: %s.\nThe official checkpoint is listed at %s.\nDownload it in a browser, then run:\n  slakweights convert -in <downloaded .pth> -variant %s -out %s.safetensors",
				*variant, src.Note, src.README, *variant, *variant)
		}
		u = src.URL
	}
	var last time.Time
	n, err := download(ctx, u, *out, downloadOptions{Progress: func(done, total int64) {
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		if total > 0 {
			fmt.Fprintf(stderr, "downloading: %3.0f%% (%d of %d MB)\n", 100*float64(done)/float64(total), done>>20, total>>20)
		} else {
			fmt.Fprintf(stderr, "downloading: %d MB\n", done>>20)
		}
	}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "downloaded %s: %d bytes from %s\n", *out, n, u)
	if *variant != "" {
		fmt.Fprintf(stdout, "next: slakweights convert -in %s -variant %s -out %s.safetensors\n", *out, *variant, *variant)
	}
	return nil
}
