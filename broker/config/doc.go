// Package config reads a Nautilus node's configuration: a nautilus.conf in VerneMQ's
// `key = value` form, overridden by NAUTILUS__* environment variables, on top of built-in
// defaults that run a single node with no file at all.
//
// The schema lives in one place: the struct tags of Config and ListenerOptions. Each tagged
// field is one key with its name, default, one-line doc and, where it matters, the unit of a
// plain integer, words that stand for numbers and a valid range. The parser, `nautilus config
// show`, the error messages and docs/configuration.md are all derived from those tags, so a
// later change adds a key by adding one field.
//
// Load collects every problem of a file instead of stopping at the first, because an operator
// wants to fix a broken file in one pass. Every problem names where the value came from:
// file and line, or the environment variable.
package config
