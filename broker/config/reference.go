package config

import (
	"fmt"
	"strings"
	"time"
)

// ReferenceMarkdown renders the key reference of docs/configuration.md from the schema. A test
// compares the document with it, so the reference cannot drift from the code.
func ReferenceMarkdown() string {
	var b strings.Builder
	group := ""
	for _, f := range schema().keys {
		if f.Group != group {
			if group == "Node" {
				writeListeners(&b)
			}
			group = f.Group
			fmt.Fprintf(&b, "\n### %s\n\n| Key | Default | Type | Meaning |\n|---|---|---|---|\n", group)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Key, mdDefault(f), kindDoc(f), mdEscape(f.Doc))
	}
	return strings.TrimPrefix(b.String(), "\n")
}

func writeListeners(b *strings.Builder) {
	b.WriteString("\n### Listeners\n\n| Key | Meaning |\n|---|---|\n")
	for _, t := range ListenerType("").Values() {
		fmt.Fprintf(b, "| `listener.%s.<name>` | %s (host:port) |\n", t, listenerDoc(ListenerType(t)))
	}
	fmt.Fprintf(b, "\nWith no listener configured: `listener.%s.%s = %s`.\n", DefaultListenerType, DefaultListenerName, DefaultListenerAddress)
	b.WriteString("\nPer-listener options, each settable as `listener.<option>`, `listener.<type>.<option>` " +
		"or `listener.<type>.<name>.<option>`:\n\n| Option | Default | Type | Listener types | Meaning |\n|---|---|---|---|---|\n")
	for _, f := range schema().options {
		types := "all"
		if f.types != nil {
			types = joinTypes(f.types)
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", f.Key, mdDefault(f), kindDoc(f), types, mdEscape(f.Doc))
	}
}

func mdDefault(f *field) string {
	if f.Def == "" {
		return `""`
	}
	return "`" + f.Def + "`"
}

func kindDoc(f *field) string {
	k := f.Kind()
	if k == "duration" && f.unit == time.Millisecond {
		return "duration (bare number: ms)"
	}
	if k == "duration" {
		return "duration (bare number: s)"
	}
	return k
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
