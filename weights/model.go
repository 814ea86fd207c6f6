package weights

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
)

// The converted model file ("slak-web/1") is a safetensors file whose
// tensors are the deploy-form parameters of one variant (F16 by default, or
// F32) and whose __metadata__ holds these keys, all strings:
//
//	format        "slak-web/1"
//	variant       engine/model variant name, e.g. "slak_t"
//	family        "SLaK", "ConvNeXt" or "RepLKNet"
//	label         human-readable name, e.g. "SLaK-T (51×51)"
//	kernels       per-stage kernel sizes, e.g. "51,49,47,13"
//	n             SLaK's small kernel edge N, e.g. "5" (empty where not used)
//	ln_eps        "1e-06"; bn_eps "1e-05"
//	preprocessing JSON: {"resize":256,"interpolation":"bicubic","crop":224,"mean":[…],"std":[…]}
//	class_order   "imagenet1k-wordnet-sorted" (or e.g. "tiny-10" for test models)
//	dtype         "F16" or "F32"
//	source_sha256 sha256 of the .pth it was converted from
//	source_file   base name of that .pth
//	source_key    top-level key of the state dict in it ("model", "model_ema", … or "")
//	converted_by  "slakweights"
//	data_sha256   DataSHA256 of the tensors (verified on load)
const (
	FormatV1 = "slak-web/1"

	MetaFormat        = "format"
	MetaVariant       = "variant"
	MetaFamily        = "family"
	MetaLabel         = "label"
	MetaKernels       = "kernels"
	MetaN             = "n"
	MetaLNEps         = "ln_eps"
	MetaBNEps         = "bn_eps"
	MetaPreprocessing = "preprocessing"
	MetaClassOrder    = "class_order"
	MetaDType         = "dtype"
	MetaSourceSHA256  = "source_sha256"
	MetaSourceFile    = "source_file"
	MetaSourceKey     = "source_key"
	MetaConvertedBy   = "converted_by"
	MetaDataSHA256    = "data_sha256"
)

// DataSHA256 returns the hex sha256 that the data_sha256 metadata entry
// holds: over the tensors in f.Order, for each the name, a 0 byte, the
// dtype, a 0 byte, the shape as comma-separated decimals, a 0 byte, the
// data length as 8 little-endian bytes, then the data. Names and shapes are
// included so that renaming or reshaping tensors is caught as well as
// changed bytes.
func DataSHA256(f *File) string {
	return DataSHA256Progress(f, nil)
}

// DataSHA256Progress is DataSHA256 reporting progress(done, total) in data
// bytes hashed, every 4 MiB and at the end.
func DataSHA256Progress(f *File, progress func(done, total int64)) string {
	var total, done int64
	for _, name := range f.Order {
		if t := f.Tensors[name]; t != nil {
			total += int64(len(t.Data))
		}
	}
	h := sha256.New()
	var n [8]byte
	for _, name := range f.Order {
		t := f.Tensors[name]
		if t == nil {
			continue
		}
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(t.DType))
		h.Write([]byte{0})
		for i, s := range t.Shape {
			if i > 0 {
				h.Write([]byte{','})
			}
			h.Write([]byte(strconv.Itoa(s)))
		}
		h.Write([]byte{0})
		binary.LittleEndian.PutUint64(n[:], uint64(len(t.Data)))
		h.Write(n[:])
		for d := t.Data; len(d) > 0; {
			c := min(len(d), 4<<20)
			h.Write(d[:c])
			d = d[c:]
			done += int64(c)
			if progress != nil {
				progress(done, total)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// VerifyModelFile checks what every slak-web model file must satisfy
// independently of the variant: the format tag, the required metadata keys,
// F16/F32 tensors only, and the data checksum. The variant-specific checks
// (keys and shapes) are in weights/convert.LoadModelFile.
func VerifyModelFile(f *File) error {
	return VerifyModelFileProgress(f, nil)
}

// VerifyModelFileProgress is VerifyModelFile reporting the checksum's
// progress (see DataSHA256Progress).
func VerifyModelFileProgress(f *File, progress func(done, total int64)) error {
	format, ok := f.Metadata[MetaFormat]
	if !ok {
		return fmt.Errorf("not a slak-web model file: missing metadata %s", MetaFormat)
	}
	if format != FormatV1 {
		return fmt.Errorf("not a slak-web model file: format %q, want %q", format, FormatV1)
	}
	for _, k := range []string{MetaVariant, MetaFamily, MetaDType, MetaDataSHA256} {
		if f.Metadata[k] == "" {
			return fmt.Errorf("slak-web model file: missing metadata %s", k)
		}
	}
	for _, name := range f.Order {
		if d := f.Tensors[name].DType; d != F16 && d != F32 {
			return fmt.Errorf("slak-web model file: tensor %s is %s, want F16 or F32", name, d)
		}
	}
	if got, want := DataSHA256Progress(f, progress), f.Metadata[MetaDataSHA256]; got != want {
		return fmt.Errorf("slak-web model file: tensor data checksum mismatch (corrupted or tampered file): data_sha256 %s, computed %s", want, got)
	}
	return nil
}
