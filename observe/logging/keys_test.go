package logging_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/novaevents/nova/observe/logging"
)

// aliases are spellings of the shared keys that a component must not use
// in its log records, so that one query finds an event in every
// component's logs and in this package's.
var aliases = map[string]string{
	"id": logging.KeyEventID, "eventID": logging.KeyEventID, "eventId": logging.KeyEventID, "event": logging.KeyEventID,
	"type": logging.KeyEventType, "eventType": logging.KeyEventType,
	"listenerID": logging.KeyListener, "listener_id": logging.KeyListener, "listenerId": logging.KeyListener,
	"err": logging.KeyError,
}

// TestComponentsLogWithTheSameKeys reads every non-test source file of the
// module and checks the literal keys of slog-style calls (a message, then
// key-value pairs) against the shared spellings.
func TestComponentsLogWithTheSameKeys(t *testing.T) {
	root := filepath.Join("..", "..")
	seen := map[string]int{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := c.Fun.(*ast.SelectorExpr)
			if !ok || len(c.Args) < 3 {
				return true
			}
			switch sel.Sel.Name {
			case "Debug", "Info", "Warn", "Error", "logWarn", "logError":
			default:
				return true
			}
			for i := 1; i < len(c.Args); i += 2 {
				lit, ok := c.Args[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				key, _ := strconv.Unquote(lit.Value)
				seen[key]++
				if want, bad := aliases[key]; bad {
					t.Errorf("%s: log key %q; Nova's components write %q", fset.Position(lit.Pos()), key, want)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{logging.KeyEventID, logging.KeyListener, logging.KeyError} {
		if seen[k] == 0 {
			t.Errorf("no component logs %q: is the scan reading the sources?", k)
		}
	}
}
