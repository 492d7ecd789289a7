package poster

import (
	"bytes"
	"errors"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"

	xdraw "golang.org/x/image/draw"
)

// Limits of a logo.
const (
	// MaxLogoBytes bounds the file NormalizeLogo reads.
	MaxLogoBytes = 1 << 20
	// MaxLogoSide bounds either side of the image in it, and
	// MaxLogoPixels its pixels, so that a small file claiming a huge
	// image is refused before it is decoded.
	MaxLogoSide   = 4096
	MaxLogoPixels = MaxLogoSide * MaxLogoSide
	// logoKeptSide is the longest side of a logo NormalizeLogo makes.
	logoKeptSide = 1024
)

// Errors of NormalizeLogo, worded to follow nothing.
var (
	ErrLogoNotImage      = errors.New("logo must be a PNG or JPEG image")
	ErrLogoTooBig        = errors.New("logo must be at most 1 MiB")
	ErrLogoTooManyPixels = errors.New("logo is too large: at most 4096 × 4096 pixels")
)

// NormalizeLogo turns an uploaded PNG or JPEG (told by its first bytes,
// not its name) into the logo a Design holds: its pixels alone, no
// metadata, colour profile or text, at most 1024 pixels on its longer
// side, as a PNG of at most MaxLogoBytes. It refuses a file over
// MaxLogoBytes before reading it and an image over MaxLogoPixels before
// decoding it, so neither a big upload nor a decompression bomb costs
// memory. Its errors are ErrLogoNotImage, ErrLogoTooBig and
// ErrLogoTooManyPixels.
func NormalizeLogo(data []byte) ([]byte, error) {
	if len(data) > MaxLogoBytes {
		return nil, ErrLogoTooBig
	}
	var decodeConfig func([]byte) (image.Config, error)
	var decode func([]byte) (image.Image, error)
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		decodeConfig = func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		decodeConfig = func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }
	default:
		return nil, ErrLogoNotImage
	}
	cfg, err := decodeConfig(data)
	if err != nil || cfg.Width < 1 || cfg.Height < 1 {
		return nil, ErrLogoNotImage
	}
	if cfg.Width > MaxLogoSide || cfg.Height > MaxLogoSide || cfg.Width*cfg.Height > MaxLogoPixels {
		return nil, ErrLogoTooManyPixels
	}
	img, err := decode(data)
	if err != nil {
		return nil, ErrLogoNotImage
	}
	// Scale to logoKeptSide, and further in halves in the rare case that
	// the PNG (of noise, say) would still be over MaxLogoBytes.
	for side := logoKeptSide; ; side /= 2 {
		out, err := encodeLogo(img, side)
		if err != nil || len(out) <= MaxLogoBytes || side <= 64 {
			return out, err
		}
	}
}

// encodeLogo writes img as a PNG at most side pixels on its longer side.
func encodeLogo(img image.Image, side int) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > side || h > side {
		if w >= h {
			w, h = side, max(1, h*side/w)
		} else {
			w, h = max(1, w*side/h), side
		}
	}
	var dst *image.NRGBA
	if w == b.Dx() && h == b.Dy() {
		dst = toNRGBA(img)
	} else {
		// Resample in premultiplied colour, or transparent edges would
		// bleed dark.
		scaled := image.NewRGBA(image.Rect(0, 0, w, h))
		xdraw.CatmullRom.Scale(scaled, scaled.Bounds(), img, b, draw.Src, nil)
		dst = toNRGBA(scaled)
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&buf, dst); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// toNRGBA copies img into an 8-bit non-premultiplied image at the origin,
// which every PNG reader reads.
func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}
