package workflow_test

import (
	"fmt"

	"github.com/correio-dev/correio/workflow"
)

func ExampleCompile() {
	tpl, err := workflow.Compile(
		"Approval needed: {{.Title}}",
		"Hello {{.Approver}}, please approve {{.Request}}.",
		"<p>Hello {{.Approver}}, please approve <b>{{.Request}}</b>.</p>")
	if err != nil {
		panic(err)
	}
	r, err := tpl.Render(workflow.Vars{"Title": "New laptop", "Approver": "Ana", "Request": "REQ-7"})
	fmt.Println(r.Subject, "|", r.Text, "|", r.HTML, err)
	_, err = tpl.Render(workflow.Vars{"Title": "New laptop"})
	fmt.Println(err != nil)
	// Output:
	// Approval needed: New laptop | Hello Ana, please approve REQ-7. | <p>Hello Ana, please approve <b>REQ-7</b>.</p> <nil>
	// true
}
