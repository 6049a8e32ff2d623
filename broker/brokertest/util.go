package brokertest

import (
	"bytes"
	"errors"
	"io"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func errAs(err error, target any) bool { return errors.As(err, target) }
