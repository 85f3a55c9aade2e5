// Command orderflow-fn serves one orderflow function, as the binary a
// `func build` makes of it would: `orderflow-fn order`. It holds the five
// functions and the func-go runtime and nothing of the CLI (no embedded
// broker, plane, plots), so each function process maps and touches a
// fraction of what `orderflow function <name>` does: the plane starts
// functions with it when it sits beside the orderflow binary.
package main

import (
	"fmt"
	"os"
	"strings"

	"orderflow.dev/local/fnserve"
)

func main() {
	if len(os.Args) != 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintf(os.Stderr, "usage: orderflow-fn FUNCTION (one of %s)\n", strings.Join(fnserve.Names(), ", "))
		os.Exit(2)
	}
	if err := fnserve.Serve(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "orderflow-fn:", err)
		os.Exit(1)
	}
}
