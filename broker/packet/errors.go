package packet

import (
	"errors"
	"strconv"
)

// ErrIncomplete reports that a byte slice ends before the fixed header (or,
// for SplitPacket, the packet) does. It is not a protocol violation: the caller
// should wait for more bytes. ReasonOf maps it to UnspecifiedError.
var ErrIncomplete = errors.New("packet: incomplete")

// Error is a decode or encode failure together with the reason code the
// specification assigns to it, so the broker can answer with that code (in
// CONNACK or DISCONNECT for MQTT 5) or simply close the connection (3.1.1).
//
// errors.Is(err, MalformedPacket) and errors.As(err, &rc) with rc a
// ReasonCode both work, because Unwrap returns Code.
type Error struct {
	Code ReasonCode
	Msg  string
}

func (e *Error) Error() string { return "packet: " + e.Msg + " (" + e.Code.String() + ")" }

// Unwrap exposes the reason code to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Code }

// errf builds an *Error. Messages are constants: errors are the cold path,
// and one allocation there keeps the messages specific.
func errf(code ReasonCode, msg string) error { return &Error{Code: code, Msg: msg} }

func malformed(msg string) error     { return &Error{Code: MalformedPacket, Msg: msg} }
func protocolError(msg string) error { return &Error{Code: ProtocolError, Msg: msg} }

// VersionError is returned for a CONNECT whose protocol name or level this
// codec does not speak ([MQTT-3.1.2-1], [MQTT-3.1.2-2]). It unwraps to
// UnsupportedProtocolVersion.
//
// The broker should answer with a CONNACK before closing: 3.1.1 requires return
// code 0x01 [MQTT-3.1.2-2] and MQTT 5 permits 0x84. Since the client's level
// is unknown, the 4-byte 3.1.1 form (Connack{ReasonCode:
// UnsupportedProtocolVersion} encoded as V311, i.e. 20 02 00 01) is the one
// every client generation can parse; ProtocolName and Level are here for a
// broker that prefers another choice, and for logs.
type VersionError struct {
	ProtocolName string // a copy: it does not alias the packet body
	Level        byte   // as on the wire, bridge bit included
}

func (e *VersionError) Error() string {
	return "packet: unsupported protocol " + strconv.Quote(e.ProtocolName) + " level " + strconv.Itoa(int(e.Level)) +
		" (" + UnsupportedProtocolVersion.String() + ")"
}

// Unwrap exposes UnsupportedProtocolVersion to errors.Is and errors.As.
func (e *VersionError) Unwrap() error { return UnsupportedProtocolVersion }

// ReasonOf returns the reason code carried by err: Success for nil, the code
// for any error wrapping a ReasonCode (*Error, *VersionError, a bare
// ReasonCode), and UnspecifiedError for everything else (I/O errors,
// ErrIncomplete).
func ReasonOf(err error) ReasonCode {
	if err == nil {
		return Success
	}
	var rc ReasonCode
	if errors.As(err, &rc) {
		return rc
	}
	return UnspecifiedError
}
