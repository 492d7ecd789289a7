package poster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"runtime"
	"testing"
)

func encodePNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// noise is an image no encoder can make small.
func noise(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Uint32())
	}
	return img
}

// chunk is one PNG chunk: length, type, data, CRC.
func chunk(kind string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(append(out, kind...), data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(kind), data...)))
}

// chunkTypes lists the chunks of a PNG in order.
func chunkTypes(tb testing.TB, b []byte) []string {
	tb.Helper()
	var kinds []string
	for b = b[8:]; len(b) >= 12; {
		n := int(binary.BigEndian.Uint32(b))
		kinds = append(kinds, string(b[4:8]))
		b = b[12+n:]
	}
	return kinds
}

// withText returns the PNG p with a tEXt chunk after its header, as
// image editors write their name and comments.
func withText(p []byte) []byte {
	const ihdrEnd = 8 + 12 + 13
	text := chunk("tEXt", []byte("Comment\x00made with a photo editor; author: someone@example.edu"))
	return append(append(append([]byte{}, p[:ihdrEnd]...), text...), p[ihdrEnd:]...)
}

// bomb is a tiny PNG whose header claims w × h pixels.
func bomb(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8 bits, RGBA, deflate, no filter, no interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, chunk("IEND", nil)...)
}

func TestNormalizeLogoRefuses(t *testing.T) {
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, image.NewPaletted(image.Rect(0, 0, 10, 10), color.Palette{color.White, color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	valid := encodePNG(t, noise(200, 200))
	tooBig := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, MaxLogoBytes+1-8)...)
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"a text file":                {[]byte("this is not an image, though its name says logo.png"), ErrLogoNotImage},
		"a GIF":                      {gifBuf.Bytes(), ErrLogoNotImage},
		"nothing":                    {nil, ErrLogoNotImage},
		"a file of 1 MiB and a byte": {tooBig, ErrLogoTooBig},
		"a truncated PNG":            {valid[:len(valid)/2], ErrLogoNotImage},
		"a PNG of no pixels":         {bomb(0, 0), ErrLogoNotImage},
		"a PNG 5000 pixels wide":     {bomb(5000, 10), ErrLogoTooManyPixels},
		"a PNG 100000 × 100000":      {bomb(100000, 100000), ErrLogoTooManyPixels},
	} {
		got, err := NormalizeLogo(c.data)
		if !errors.Is(err, c.want) || got != nil {
			t.Errorf("%s: got %d bytes and %v, want %v", name, len(got), err, c.want)
		}
	}
}

// A decompression bomb is refused from its header: nothing near its
// claimed 40 GB of pixels is ever allocated.
func TestNormalizeLogoRefusesABombWithoutDecodingIt(t *testing.T) {
	b := bomb(100000, 100000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NormalizeLogo(b)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrLogoTooManyPixels) {
		t.Fatalf("got %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d bytes refusing a %d-byte file", n, len(b))
	}
}

func TestNormalizeLogoKeepsOnlyPixels(t *testing.T) {
	// A photo-like JPEG, larger than a logo needs.
	photo := image.NewRGBA(image.Rect(0, 0, 1600, 800))
	for y := range 800 {
		for x := range 1600 {
			copy(photo.Pix[photo.PixOffset(x, y):], []uint8{uint8(x / 8), uint8(y / 4), 0x80, 0xff})
		}
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, photo, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	// A transparent PNG with a text chunk.
	mark := image.NewNRGBA(image.Rect(0, 0, 300, 1500))
	for y := range 1500 {
		for x := range 300 {
			if (x-150)*(x-150)+(y-750)*(y-750) < 140*140 {
				copy(mark.Pix[mark.PixOffset(x, y):], []uint8{0xe4, 0x57, 0x2e, 0xff})
			}
		}
	}
	texted := withText(encodePNG(t, mark))
	if kinds := chunkTypes(t, texted); kinds[1] != "tEXt" {
		t.Fatalf("the test PNG has chunks %v", kinds)
	}
	for name, c := range map[string]struct {
		data       []byte
		wantW      int
		wantH      int
		wantAlpha  bool
		wantCentre color.NRGBA
	}{
		"a JPEG":                {jpg.Bytes(), 1024, 512, false, color.NRGBA{0x64, 0x64, 0x80, 0xff}},
		"a PNG with a comment":  {texted, 204, 1024, true, color.NRGBA{0xe4, 0x57, 0x2e, 0xff}},
		"a small PNG, as it is": {encodePNG(t, mark.SubImage(image.Rect(100, 700, 200, 800))), 100, 100, false, color.NRGBA{0xe4, 0x57, 0x2e, 0xff}},
	} {
		out, err := NormalizeLogo(c.data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if kinds := chunkTypes(t, out); len(kinds) < 3 || kinds[0] != "IHDR" || kinds[len(kinds)-1] != "IEND" {
			t.Errorf("%s: chunks %v", name, kinds)
		} else {
			for _, k := range kinds[1 : len(kinds)-1] {
				if k != "IDAT" {
					t.Errorf("%s: kept a %s chunk; want pixels only", name, k)
				}
			}
		}
		img, err := png.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b := img.Bounds()
		if b.Dx() != c.wantW || b.Dy() != c.wantH || len(out) > MaxLogoBytes {
			t.Errorf("%s: got %v in %d bytes, want %d × %d", name, b, len(out), c.wantW, c.wantH)
		}
		centre := color.NRGBAModel.Convert(img.At(b.Dx()/2, b.Dy()/2)).(color.NRGBA)
		if d := colourDistance(centre, c.wantCentre); d > 12 {
			t.Errorf("%s: centre is %v, want about %v", name, centre, c.wantCentre)
		}
		corner := color.NRGBAModel.Convert(img.At(0, 0)).(color.NRGBA)
		if (corner.A == 0) != c.wantAlpha {
			t.Errorf("%s: corner is %v; want transparency kept: %v", name, corner, c.wantAlpha)
		}
	}
}

func colourDistance(a, b color.NRGBA) int {
	d := func(x, y uint8) int { return max(int(x)-int(y), int(y)-int(x)) }
	return max(d(a.R, b.R), d(a.G, b.G), d(a.B, b.B), d(a.A, b.A))
}

// A JPEG of noise is small, but no PNG of it is: the logo is made
// smaller until its PNG is at most MaxLogoBytes.
func TestNormalizeLogoOutputIsBounded(t *testing.T) {
	var in bytes.Buffer
	if err := jpeg.Encode(&in, noise(720, 720), &jpeg.Options{Quality: 60}); err != nil {
		t.Fatal(err)
	}
	out, err := NormalizeLogo(in.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil || len(out) > MaxLogoBytes || img.Bounds().Dx() >= 720 {
		t.Fatalf("got %d bytes (%v), %v; want at most %d, smaller than the JPEG", len(out), img.Bounds(), err, MaxLogoBytes)
	}
}

// Whatever is uploaded, NormalizeLogo answers a logo within its limits
// or one of its errors, and never panics.
func FuzzNormalizeLogo(f *testing.F) {
	small := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	small.Set(1, 1, color.NRGBA{0xe4, 0x57, 0x2e, 0x80})
	var jpg bytes.Buffer
	jpeg.Encode(&jpg, small, nil)
	for _, seed := range [][]byte{encodePNG(f, small), withText(encodePNG(f, small)), jpg.Bytes(), bomb(100000, 100000), bomb(1, 1), []byte("logo")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := NormalizeLogo(data)
		if err != nil {
			if !errors.Is(err, ErrLogoNotImage) && !errors.Is(err, ErrLogoTooBig) && !errors.Is(err, ErrLogoTooManyPixels) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(out))
		if err != nil || cfg.Width > logoKeptSide || cfg.Height > logoKeptSide || len(out) > MaxLogoBytes {
			t.Fatalf("got %d bytes, %+v, %v", len(out), cfg, err)
		}
		if err := checkLogoPNG(out); err != nil {
			t.Fatalf("a logo Check refuses: %v", err)
		}
	})
}
