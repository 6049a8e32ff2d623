// Package plugins is the home of Nautilus's built-in plugins, VerneMQ's file-based auth
// plugins under their VerneMQ names:
//
//   - passwd (vmq_passwd): auth_on_register against a password file;
//   - acl (vmq_acl): auth_on_publish and auth_on_subscribe against an ACL file.
//
// Each is a plain value implementing the hooks interfaces it needs; cmd/nautilus builds the
// enabled ones in order (passwd, then acl) and hands them to broker.New. docs/plugins.md
// describes the file formats and the chain semantics.
package plugins
