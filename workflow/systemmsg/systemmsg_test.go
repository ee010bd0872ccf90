package systemmsg_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/workflow"
	"github.com/correio-dev/correio/workflow/systemmsg"
)

func vars() workflow.Vars {
	return workflow.Vars{"Request": "1042", "Title": "Printer <jammed>", "Requester": "Ana", "Sender": "ACME Service Desk", "Approver": "Bruno"}
}

func TestEveryMessageRendersInEveryLanguage(t *testing.T) {
	s, err := systemmsg.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := threading.TokenFormat{}.MustCompile()
	for _, lang := range []string{systemmsg.English, systemmsg.Portuguese} {
		for _, k := range systemmsg.Kinds() {
			r, err := s.Render(k, lang, vars())
			if err != nil {
				t.Fatalf("%s/%s: %v", lang, k, err)
			}
			if id, ok := tokens.Parse(r.Subject); !ok || id != "1042" {
				t.Errorf("%s/%s subject %q lacks the thread token", lang, k, r.Subject)
			}
			if !strings.Contains(r.Text, "1042") || !strings.Contains(r.HTML, "1042") {
				t.Errorf("%s/%s body lacks the request number", lang, k)
			}
			if !strings.Contains(r.HTML, "Printer &lt;jammed&gt;") {
				t.Errorf("%s/%s HTML not escaped: %s", lang, k, r.HTML)
			}
			if strings.Contains(r.Text, "<no value>") || strings.Contains(r.HTML, "<no value>") {
				t.Errorf("%s/%s has an unfilled variable", lang, k)
			}
		}
	}
}

func TestLanguageMatching(t *testing.T) {
	s, _ := systemmsg.New(nil)
	cases := map[string]string{"pt-BR": "Solicitação", "pt-br": "Solicitação", "pt": "Solicitação", "pt-PT": "Solicitação", "en-US": "Request", "fr": "Request", "": "Request"}
	for lang, want := range cases {
		r, err := s.Render(systemmsg.RequestOpened, lang, vars())
		if err != nil || !strings.HasPrefix(r.Subject, want) {
			t.Errorf("lang %q: subject %q (%v), want prefix %q", lang, r.Subject, err, want)
		}
	}
	if got := s.Languages(); len(got) != 2 || got[0] != "en" || got[1] != "pt-BR" {
		t.Fatalf("languages %v", got)
	}
}

func TestRequiredVariablesAndOverrides(t *testing.T) {
	s, _ := systemmsg.New(nil)
	v := vars()
	delete(v, "Requester")
	var te *workflow.TemplateError
	if _, err := s.Render(systemmsg.RequestCompleted, "en", v); !errors.As(err, &te) {
		t.Fatalf("missing Requester: %v", err)
	}
	if err := s.Override(systemmsg.RequestOpened, "en", systemmsg.Template{Subject: "{{.Broken"}); err == nil {
		t.Fatal("broken override accepted")
	}
	if err := s.Override("holiday", "en", systemmsg.Template{Subject: "x"}); !errors.Is(err, systemmsg.ErrUnknown) {
		t.Fatalf("unknown kind: %v", err)
	}
	if err := s.Override(systemmsg.RequestOpened, "es", systemmsg.Template{Subject: "Solicitud {{.Request}} abierta", Text: "Hola {{.Requester}}"}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Render(systemmsg.RequestOpened, "es-AR", vars())
	if err != nil || r.Subject != "Solicitud 1042 abierta [#REQ-1042]" || r.Text != "Hola Ana" {
		t.Fatalf("override: %+v %v", r, err)
	}
	// A subject injection through a variable is refused.
	v = vars()
	v["Title"] = "x\nBcc: victim@example.com"
	if _, err := s.Render(systemmsg.RequestOpened, "en", v); !errors.Is(err, workflow.ErrHeaderInjection) {
		t.Fatalf("injection: %v", err)
	}
	src, err := s.Source(systemmsg.ApprovalRequested, "pt-BR")
	if err != nil || !strings.Contains(src.Subject, "Aprovação") {
		t.Fatalf("Source: %+v %v", src, err)
	}
}

func Example() {
	msgs, err := systemmsg.New(nil)
	if err != nil {
		panic(err)
	}
	r, err := msgs.Render(systemmsg.RequestOpened, "pt-BR", workflow.Vars{
		"Request": "1042", "Title": "Impressora travada", "Requester": "Ana", "Sender": "Central de Serviços",
	})
	fmt.Println(r.Subject, err)
	// Output: Solicitação 1042 aberta: Impressora travada [#REQ-1042] <nil>
}
