package amqp

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// encodingGzip is the content-encoding of compressed bodies. Any AMQP
// client can read them: the header says how to inflate the body.
const encodingGzip = "gzip"

// compressor gzips bodies at one level, reusing writers.
type compressor struct {
	level int
	pool  sync.Pool
}

func newCompressor(level int) (*compressor, error) {
	if level == 0 {
		level = gzip.DefaultCompression
	}
	if _, err := gzip.NewWriterLevel(io.Discard, level); err != nil {
		return nil, configErrorf("CompressionLevel", "compression level %d", level)
	}
	return &compressor{level: level}, nil
}

func (c *compressor) compress(body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(body)/2 + 64)
	w, _ := c.pool.Get().(*gzip.Writer)
	if w == nil {
		w, _ = gzip.NewWriterLevel(&buf, c.level)
	} else {
		w.Reset(&buf)
	}
	_, _ = w.Write(body) // writes to a bytes.Buffer do not fail
	_ = w.Close()
	c.pool.Put(w)
	return buf.Bytes()
}

// inflate gunzips body, refusing results larger than limit. The gzip
// trailer states the inflated size of the last member (modulo 2³²): a body
// that admits to more than limit is refused before anything is inflated,
// and an honest one is inflated into a buffer of exactly its size. When
// the body turns out longer than its trailer said, the buffer grows once,
// straight to limit+1 bytes, so a lying body costs about the limit, never
// more than twice it.
func inflate(body []byte, limit int) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, &MalformedError{Field: "body", Reason: "content-encoding is gzip but the body is not", Err: err}
	}
	tooLarge := func() error {
		return &MalformedError{Field: "body", Reason: fmt.Sprintf("inflated body exceeds %d bytes (ConsumerConfig.MaxDecompressedSize)", limit)}
	}
	size := 0
	if len(body) >= 18 { // the smallest gzip stream: 10-byte header, 8-byte trailer
		claimed := uint64(binary.LittleEndian.Uint32(body[len(body)-4:]))
		if claimed > uint64(limit) {
			return nil, tooLarge()
		}
		size = int(claimed)
	}
	buf := make([]byte, 0, size+1) // one byte more, to see the end without growing
	in := io.LimitReader(r, int64(limit)+1)
	for {
		if len(buf) == cap(buf) && cap(buf) <= limit {
			grown := make([]byte, len(buf), limit+1)
			copy(grown, buf)
			buf = grown
		}
		n, err := in.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &MalformedError{Field: "body", Reason: "corrupt gzip body", Err: err}
		}
	}
	if len(buf) > limit {
		return nil, tooLarge()
	}
	return buf, nil
}
