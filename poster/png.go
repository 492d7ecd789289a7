package poster

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"io"
)

// writePNG writes code as a 1-bit greyscale PNG with a quiet zone of
// margin modules, each module scale pixels square. image/png would take
// a call per pixel for a two-colour image, tens of milliseconds at the
// largest size; here each module row is packed once and its repeats are
// "Up"-filtered rows of zeros, which deflate to almost nothing.
func writePNG(w io.Writer, code *symbol, margin, scale int) error {
	modules := code.Size + 2*margin
	side := modules * scale
	stride := 1 + (side+7)/8 // the filter byte, then 8 pixels a byte

	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		return err
	}
	row := make([]byte, stride)
	same := make([]byte, stride)
	same[0] = 2 // Up: each byte is the one above plus zero
	for y := range modules {
		row[0] = 0 // None
		for i := 1; i < stride; i++ {
			row[i] = 0xFF // white; 0 bits are black
		}
		for x := range code.Size {
			if !code.Black(x, y-margin) {
				continue
			}
			for px := (x + margin) * scale; px < (x+margin+1)*scale; px++ {
				row[1+px/8] &^= 0x80 >> (px % 8)
			}
		}
		if _, err := zw.Write(row); err != nil {
			return err
		}
		for range scale - 1 {
			if _, err := zw.Write(same); err != nil {
				return err
			}
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}

	bw := bufio.NewWriter(w)
	bw.WriteString("\x89PNG\r\n\x1a\n")
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(side))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(side))
	ihdr[8] = 1 // bit depth; colour type 0 (greyscale), deflate, no interlace
	writeChunk(bw, "IHDR", ihdr[:])
	writeChunk(bw, "IDAT", idat.Bytes())
	writeChunk(bw, "IEND", nil)
	return bw.Flush()
}

// writeChunk writes one PNG chunk: length, type, data and the CRC of type
// and data.
func writeChunk(w *bufio.Writer, kind string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	io.WriteString(crc, kind)
	crc.Write(data)
	w.WriteString(kind)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}
