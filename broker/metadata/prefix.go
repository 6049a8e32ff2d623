package metadata

// FullPrefix names a table: every key lives under exactly one FullPrefix, a
// Fold visits one FullPrefix and a subscription watches one. It mirrors
// VerneMQ's {Prefix, SubPrefix} pair.
type FullPrefix struct {
	Prefix string
	Sub    string
}

// String returns "prefix/sub", for logs and error messages.
func (fp FullPrefix) String() string { return fp.Prefix + "/" + fp.Sub }

// The tables the broker uses. VerneMQ's names are kept so that documents and
// tooling about its metadata read the same.
var (
	// Subscribers maps SubscriberKey to an encoded SubscriberRecord. It is
	// both the subscription table and the session registry (which node holds
	// a client's queue); every node builds its routing trie from it.
	Subscribers = FullPrefix{Prefix: "vmq", Sub: "subscriber"}
	// Retained maps RetainKey to an encoded RetainedMessage.
	Retained = FullPrefix{Prefix: "vmq", Sub: "retain"}
	// Config holds runtime configuration overrides, keyed by a tuple
	// (EncodeTuple) of (node, app, key) or (app, key) for cluster-wide ones.
	Config = FullPrefix{Prefix: "vmq", Sub: "config"}
)
