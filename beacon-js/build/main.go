// Command build regenerates beacon-js/dist from beacon-js/src; `go generate ./beacon-js`
// runs it from the beacon-js directory.
package main

import (
	"rumd/beacon-js/internal/bundle"
	"rumd/internal/jsbundle"
)

func main() { jsbundle.Main(bundle.Entries, bundle.Banner) }
