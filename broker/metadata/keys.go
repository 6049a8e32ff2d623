package metadata

import "fmt"

// SubscriberKey is the key of the Subscribers table: one client session.
type SubscriberKey struct {
	Mountpoint string
	ClientID   string
}

// AppendTo appends the encoding of k to dst.
func (k SubscriberKey) AppendTo(dst []byte) []byte {
	return AppendTuple(dst, k.Mountpoint, k.ClientID)
}

// Encode returns the key bytes. Encodings sort as (Mountpoint, ClientID)
// tuples, so the sessions of one mountpoint are contiguous.
func (k SubscriberKey) Encode() []byte {
	return k.AppendTo(make([]byte, 0, len(k.Mountpoint)+len(k.ClientID)+4))
}

// DecodeSubscriberKey decodes the output of SubscriberKey.Encode.
func DecodeSubscriberKey(b []byte) (SubscriberKey, error) {
	mp, cid, err := decodePair(b)
	if err != nil {
		return SubscriberKey{}, fmt.Errorf("decode subscriber key: %w", err)
	}
	return SubscriberKey{Mountpoint: mp, ClientID: cid}, nil
}

// RetainKey is the key of the Retained table: one topic in one mountpoint.
// Topic is the topic name as published, after the mountpoint is applied
// (VerneMQ keys by the list of topic words; the name carries the same
// information in one string).
type RetainKey struct {
	Mountpoint string
	Topic      string
}

// AppendTo appends the encoding of k to dst.
func (k RetainKey) AppendTo(dst []byte) []byte {
	return AppendTuple(dst, k.Mountpoint, k.Topic)
}

// Encode returns the key bytes. Encodings sort as (Mountpoint, Topic) tuples.
func (k RetainKey) Encode() []byte {
	return k.AppendTo(make([]byte, 0, len(k.Mountpoint)+len(k.Topic)+4))
}

// DecodeRetainKey decodes the output of RetainKey.Encode.
func DecodeRetainKey(b []byte) (RetainKey, error) {
	mp, topic, err := decodePair(b)
	if err != nil {
		return RetainKey{}, fmt.Errorf("decode retain key: %w", err)
	}
	return RetainKey{Mountpoint: mp, Topic: topic}, nil
}

// decodePair decodes a tuple of exactly two elements.
func decodePair(b []byte) (a, c string, err error) {
	a, rest, err := ReadTupleElem(b)
	if err != nil {
		return "", "", err
	}
	c, rest, err = ReadTupleElem(rest)
	if err != nil {
		return "", "", err
	}
	if len(rest) != 0 {
		return "", "", fmt.Errorf("%w: %d trailing bytes", ErrMalformedKey, len(rest))
	}
	return a, c, nil
}
