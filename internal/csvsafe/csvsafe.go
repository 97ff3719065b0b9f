// Package csvsafe guards CSV cells against formula injection: a label that came from outside
// (a page path, a variant) must not run as a formula when an export is opened in a
// spreadsheet. The JSON API's CSV and Graphite's format=csv share it.
package csvsafe

import "strings"

// Cell returns v with a leading quote when a spreadsheet would read it as a formula or a
// command (=, +, -, @, tab, CR), as spreadsheet programs expect; other values are returned
// as they are.
func Cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
