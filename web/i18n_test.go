package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"

	"sonolink/i18n"
)

// TestKeysExist checks that every catalogue key the pages name exists:
// the literal keys in the templates and in the package's Go code, and the
// keys it composes (gate titles, item kinds, report words).
func TestKeysExist(t *testing.T) {
	en := i18n.Lookup("en")
	check := func(where, key string) {
		t.Helper()
		if !en.Has(key) {
			t.Errorf("%s: key %q is not in the catalogue", where, key)
		}
	}
	tm, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for name, set := range tm {
		for _, tt := range set.Templates() {
			if tt.Tree == nil {
				continue
			}
			walkTemplate(tt.Tree.Root, func(key string) { found++; check(name+"/"+tt.Name(), key) })
		}
	}
	if found < 40 {
		t.Fatalf("found only %d keys in the templates: has the way they translate changed?", found)
	}

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found = 0
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !translates(call.Fun) {
				return true
			}
			for _, a := range call.Args {
				// Keys have a dot; placeholder names ("n", "time") do not.
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, _ := strconv.Unquote(lit.Value); strings.Contains(s, ".") {
						found++
						check(fset.Position(lit.Pos()).String(), s)
					}
				}
			}
			return true
		})
	}
	if found < 20 {
		t.Fatalf("found only %d keys in the Go code", found)
	}

	for _, step := range []string{"code", "contacts", "otp", "setpw", "login"} {
		check("gate title", "gate."+step+".title")
	}
	for _, kind := range []string{"image", "cine", "pdf", "report"} {
		check("item label", "kind."+kind)
	}
}

// translates reports whether a call takes catalogue keys: T and N, and the
// handlers' helpers that pass theirs on.
func translates(fun ast.Expr) bool {
	var name string
	switch f := fun.(type) {
	case *ast.SelectorExpr:
		name = f.Sel.Name
	case *ast.Ident:
		name = f.Name
	}
	switch name {
	case "T", "N", "errorPage", "gate", "failed":
		return true
	}
	return false
}

// walkTemplate calls key for the first argument of every .T or .N call
// with a literal key ({{.L.T "landing.title"}}).
func walkTemplate(n parse.Node, key func(string)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkTemplate(c, key)
		}
	case *parse.ActionNode:
		walkTemplate(n.Pipe, key)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkTemplate(c, key)
		}
	case *parse.CommandNode:
		if len(n.Args) > 1 && isTranslate(n.Args[0]) {
			if s, ok := n.Args[1].(*parse.StringNode); ok {
				key(s.Text)
			}
		}
		for _, a := range n.Args {
			walkTemplate(a, key)
		}
	case *parse.IfNode:
		walkBranch(&n.BranchNode, key)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, key)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, key)
	case *parse.TemplateNode:
		walkTemplate(n.Pipe, key)
	}
}

func walkBranch(n *parse.BranchNode, key func(string)) {
	walkTemplate(n.Pipe, key)
	walkTemplate(n.List, key)
	walkTemplate(n.ElseList, key)
}

func isTranslate(n parse.Node) bool {
	var ident []string
	switch n := n.(type) {
	case *parse.FieldNode:
		ident = n.Ident
	case *parse.VariableNode:
		ident = n.Ident
	case *parse.ChainNode:
		ident = n.Field
	}
	return len(ident) > 0 && (ident[len(ident)-1] == "T" || ident[len(ident)-1] == "N")
}

// The page's language: the patient's choice with the switch, else the
// phone's, else the link's (the patient's language as the clinic knew
// it), else the clinic's. A one-time code is asked for in the page's.
func TestPageLanguage(t *testing.T) {
	fx := newFixture(t, func(c *Config) { c.LookupFloor = -1 })
	fx.b.add("tok-es", &fakeLink{link: Link{ID: "L-es", Lang: "es", NeedsPassword: true, Contacts: []MaskedContact{{Kind: "sms", Label: "+34 ••• •• 78"}}}, items: study(1, nil)})
	base := fx.srv.URL + "/p/tok-es"

	lang := func(c *http.Client, u string) string {
		t.Helper()
		_, body := getc(t, c, u)
		m := regexp.MustCompile(`<html lang="([a-z]+)">`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no html lang:\n%s", body)
		}
		return m[1]
	}
	if got := lang(clientAt("10.9.0.1", ""), base); got != "es" {
		t.Errorf("no browser language: page in %q, want the link's es", got)
	}
	if got := lang(clientAt("10.9.0.2", "sv-SE,sv;q=0.9"), base); got != "sv" {
		t.Errorf("a Swedish phone: page in %q, want sv", got)
	}
	if got := lang(clientAt("10.9.0.3", ""), fx.srv.URL+"/p/"+tokOpen); got != "en" {
		t.Errorf("a link without a language: page in %q, want the clinic's en", got)
	}

	// The switch: every language named in itself, the page's own marked.
	c := clientAt("10.9.0.4", "sv")
	_, body := getc(t, c, base)
	for _, want := range []string{`<nav class="langs" aria-label="Språk">`, `<span aria-current="true" lang="sv">Svenska</span>`, `<a href="?lang=es" hreflang="es" lang="es" rel="alternate">Español</a>`, `<a href="?lang=en" hreflang="en" lang="en" rel="alternate">English</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	res, _ := getc(t, c, base+"?lang=en")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/p/tok-es" {
		t.Fatalf("switch: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if got := lang(c, base); got != "en" {
		t.Errorf("after switching to English: page in %q", got)
	}
	if res, _ := getc(t, c, base+"?lang=xx"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("unknown language: %d", res.StatusCode)
	}
	if got := lang(c, base); got != "en" {
		t.Errorf("an unknown language changed the choice: %q", got)
	}

	// The one-time code goes out in the page's language.
	_, body = getc(t, c, base)
	csrf := csrfRe.FindStringSubmatch(body)[1]
	if res, _ := post(t, c, base+"/otp", url.Values{"contact": {"0"}, "csrf": {csrf}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("code request: %d", res.StatusCode)
	}
	fx.b.mu.Lock()
	got := fx.b.otpLang["L-es"]
	fx.b.mu.Unlock()
	if got != "en" {
		t.Errorf("code asked for on an English page went out in %q", got)
	}
}
