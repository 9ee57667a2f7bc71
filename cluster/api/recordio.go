package api

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// RecordIO frames the scheduler event stream: each record is its length in
// decimal, "\n", then that many bytes of JSON, with nothing in between.

// WriteRecord writes data as one RecordIO record.
func WriteRecord(w io.Writer, data []byte) error {
	if _, err := io.WriteString(w, strconv.Itoa(len(data))+"\n"); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// ErrBadRecord is wrapped by errors in a RecordIO stream's framing.
var ErrBadRecord = errors.New("bad recordio record")

// ByteReader is what ReadRecord reads from, e.g. a *bufio.Reader.
type ByteReader interface {
	io.Reader
	io.ByteReader
}

// ReadRecord reads one record of at most max bytes. It returns io.EOF at
// a clean end of stream.
func ReadRecord(r ByteReader, max int) ([]byte, error) {
	n, digits := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if digits > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == '\n' {
			break
		}
		if c < '0' || c > '9' || digits >= 10 {
			return nil, fmt.Errorf("%w: length header has %q", ErrBadRecord, c)
		}
		n = n*10 + int(c-'0')
		digits++
	}
	if digits == 0 || n > max {
		return nil, fmt.Errorf("%w: length %d (limit %d)", ErrBadRecord, n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
