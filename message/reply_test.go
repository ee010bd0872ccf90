package message

import (
	"strings"
	"testing"
)

func TestExtractReplyLanguages(t *testing.T) {
	const hist = "\n> Texto anterior\n> da conversa\n"
	cases := []struct {
		name, in, want string
		by             CutBy
		conf           Confidence
	}{
		{"pt-BR gmail", "Obrigado, resolvido.\n\nEm ter., 3 de mar. de 2026 às 10:15, Suporte <suporte@example.com> escreveu:\n" + hist,
			"Obrigado, resolvido.", CutAttribution, ConfidenceHigh},
		{"pt-BR wrapped", "Pode fechar.\n\nEm qui., 5 de fev. de 2026 às 09:02, Central de Atendimento <\natendimento@example.com.br> escreveu:\n" + hist,
			"Pode fechar.", CutAttribution, ConfidenceHigh},
		{"en gmail", "Thanks!\n\nOn Tue, Mar 3, 2026 at 10:15 AM Support <support@example.com> wrote:\n" + hist,
			"Thanks!", CutAttribution, ConfidenceHigh},
		{"en wrapped over two lines", "Works now.\n\nOn Tue, Mar 3, 2026 at 10:15 AM Some Very Long Support Team Name\n<support@example.com> wrote:\n" + hist,
			"Works now.", CutAttribution, ConfidenceHigh},
		{"es", "Gracias.\n\nEl mar, 3 mar 2026 a las 10:15, Soporte (<soporte@example.es>) escribió:\n" + hist,
			"Gracias.", CutAttribution, ConfidenceHigh},
		{"fr", "Merci.\n\nLe mar. 3 mars 2026 à 10:15, Support <support@example.fr> a écrit :\n" + hist,
			"Merci.", CutAttribution, ConfidenceHigh},
		{"de", "Danke.\n\nAm Di., 3. März 2026 um 10:15 Uhr schrieb Support <support@example.de>:\n" + hist,
			"Danke.", CutAttribution, ConfidenceHigh},
		{"it", "Grazie.\n\nIl giorno mar 3 mar 2026 alle ore 10:15 Supporto <supporto@example.it> ha scritto:\n" + hist,
			"Grazie.", CutAttribution, ConfidenceHigh},
		{"outlook en", "Approved.\n\n________________________________\nFrom: Service Desk <desk@example.com>\nSent: Tuesday, March 3, 2026 10:15 AM\nTo: Ana <ana@example.com>\nSubject: RE: Request 42\n\nOld text",
			"Approved.", CutHeaderBlock, ConfidenceHigh},
		{"outlook pt-BR", "Aprovado.\n\n________________________________\nDe: Central <central@example.com.br>\nEnviado: terça-feira, 3 de março de 2026 10:15\nPara: Ana <ana@example.com.br>\nAssunto: RE: Chamado 42\n\nTexto antigo",
			"Aprovado.", CutHeaderBlock, ConfidenceHigh},
		{"outlook desktop original message pt", "Segue.\n\n-----Mensagem original-----\nDe: Central [mailto:central@example.com.br]\nEnviada em: terça-feira, 3 de março de 2026 10:15\nPara: Ana\nAssunto: Chamado 42\n\nTexto antigo",
			"Segue.", CutSeparator, ConfidenceHigh},
		{"outlook original message en", "See below.\n\n-----Original Message-----\nFrom: Desk\nSent: Tuesday\nTo: Ana\nSubject: x\n\nold",
			"See below.", CutSeparator, ConfidenceHigh},
		{"outlook de", "Passt.\n\nVon: Support <support@example.de>\nGesendet: Dienstag, 3. März 2026 10:15\nAn: Ana\nBetreff: AW: Anfrage\n\nalt",
			"Passt.", CutHeaderBlock, ConfidenceHigh},
		{"outlook fr", "OK.\n\nDe : Support <support@example.fr>\nEnvoyé : mardi 3 mars 2026 10:15\nÀ : Ana\nObjet : RE: Demande\n\nancien",
			"OK.", CutHeaderBlock, ConfidenceHigh},
		{"outlook it", "Va bene.\n\nDa: Supporto <supporto@example.it>\nInviato: martedì 3 marzo 2026 10:15\nA: Ana\nOggetto: R: Richiesta\n\nvecchio",
			"Va bene.", CutHeaderBlock, ConfidenceHigh},
		{"outlook es", "Vale.\n\nDe: Soporte <soporte@example.es>\nEnviado el: martes, 3 de marzo de 2026 10:15\nPara: Ana\nAsunto: RE: Solicitud\n\nviejo",
			"Vale.", CutHeaderBlock, ConfidenceHigh},
		{"outlook web bold", "Done.\n\n*From:* Desk <desk@example.com>\n*Sent:* Tuesday\n*To:* Ana\n*Subject:* x\n\nold",
			"Done.", CutHeaderBlock, ConfidenceHigh},
		{"quote only, no attribution", "Fine by me.\n\n> old text\n> more old text\n",
			"Fine by me.", CutQuote, ConfidenceMedium},
		{"no history", "Hello,\n\nmy printer is broken.\n\nAna", "Hello,\n\nmy printer is broken.\n\nAna", CutNone, ConfidenceHigh},
		{"iphone pt", "Ok\n\nEnviado do meu iPhone\n\nEm 3 de mar. de 2026, às 10:15, Suporte <suporte@example.com> escreveu:\n" + hist,
			"Ok", CutAttribution, ConfidenceHigh},
		{"mobile signature over unquoted history", "Ok\n\nSent from my Galaxy\n\nOld message text\nmore old text",
			"Ok", CutQuote, ConfidenceMedium},
		{"german iphone", "Ja.\n\nVon meinem iPhone gesendet", "Ja.", CutNone, ConfidenceHigh},
		{"inline reply", "On Tue, Mar 3, 2026 at 10:15 AM Desk <desk@example.com> wrote:\n> Question one?\n\nAnswer one.\n\n> Question two?\n\nAnswer two.\n",
			"Answer one.\n\n> Question two?\n\nAnswer two.", CutInline, ConfidenceLow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ExtractReply(c.in)
			if r.Text != c.want {
				t.Errorf("Text = %q, want %q", r.Text, c.want)
			}
			if r.By != c.by || r.Confidence != c.conf {
				t.Errorf("By, Confidence = %s, %s; want %s, %s", r.By, r.Confidence, c.by, c.conf)
			}
			if r.Full != c.in {
				t.Error("Full is not the input")
			}
		})
	}
}

func TestExtractReplySignature(t *testing.T) {
	r := ExtractReply("Fixed, thanks.\n\n-- \nAna Souza\nACME\n\nOn Tue, Mar 3, 2026 at 10:15 AM Desk <desk@example.com> wrote:\n> old\n")
	if r.Text != "Fixed, thanks." || !strings.HasPrefix(r.Signature, "--\nAna Souza") {
		t.Fatalf("Text %q Signature %q", r.Text, r.Signature)
	}
	if !strings.Contains(r.Quoted, "> old") {
		t.Errorf("Quoted %q", r.Quoted)
	}
	// A sentence starting like a mobile signature stays.
	r = ExtractReply("Sent from my desk, which is easier than my phone.")
	if r.Text != "Sent from my desk, which is easier than my phone." {
		t.Errorf("Text %q", r.Text)
	}
}

func TestReplyMarker(t *testing.T) {
	for _, lang := range []string{"en", "pt-BR", "es", "fr-CA", "de", "it", "xx"} {
		m := ReplyMarkerFor(lang)
		if !strings.HasPrefix(m, ReplyMarkerPrefix) || !strings.HasSuffix(m, ReplyMarkerSuffix) {
			t.Fatalf("%s: marker %q", lang, m)
		}
		// The marker quoted by the customer's client, under an
		// attribution line in another language, and a signature-like
		// attribution that would confuse the other rules.
		in := "Pode encerrar o chamado.\n\nEm ter., 3 de mar. de 2026 às 10:15, Central <central@example.com> escreveu:\n> " + m + "\n> Olá Ana,\n> seu chamado foi aberto.\n"
		r := ExtractReply(in)
		if r.Text != "Pode encerrar o chamado." || r.By != CutMarker || r.Confidence != ConfidenceHigh {
			t.Errorf("%s: %q by %s %s", lang, r.Text, r.By, r.Confidence)
		}
	}
	// Outlook quotes without ">": its header block sits between the new
	// text and the marker.
	r := ExtractReply("Approved.\n\nFrom: Desk <desk@example.com>\nSent: Tuesday, March 3, 2026 10:15\nTo: Ana\nSubject: Request 42\n\n" + ReplyMarker + "\nHello Ana")
	if r.Text != "Approved." || r.By != CutMarker || !strings.Contains(r.Quoted, "From: Desk") {
		t.Errorf("outlook + marker: %q by %s, quoted %q", r.Text, r.By, r.Quoted)
	}
	if ReplyMarkerFor("pt-BR") == ReplyMarker || ReplyMarkerFor("xx") != ReplyMarker {
		t.Error("language choice")
	}
	// The marker wins even when the text above has quote-like lines.
	r = ExtractReply("> not really a quote\nmy answer\n" + ReplyMarker + "\nold")
	if r.Text != "> not really a quote\nmy answer" || r.By != CutMarker {
		t.Errorf("%q %s", r.Text, r.By)
	}
}

func TestExtractReplyHTML(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"gmail", `<div dir="ltr">Works now, thanks!</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, Mar 3, 2026 at 10:15 AM Desk &lt;desk@example.com&gt; wrote:<br></div><blockquote class="gmail_quote">old</blockquote></div>`, "Works now, thanks!"},
		{"outlook web", `<div>Aprovado.</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr"><b>De:</b> Central<br><b>Enviado:</b> terça<br><b>Para:</b> Ana</div><div>Texto antigo</div>`, "Aprovado."},
		{"outlook divRplyFwdMsg only", `<p>Ok.</p><hr><div id="divRplyFwdMsg"><b>From:</b> Desk<br><b>Sent:</b> Tuesday</div><p>old</p>`, "Ok."},
		{"apple mail", `<div>Yes.</div><div><br><blockquote type="cite"><div>On 3 Mar 2026, at 10:15, Desk &lt;desk@example.com&gt; wrote:</div><div>old</div></blockquote></div>`, "Yes."},
		{"apple mail attribution outside", `<div>Yes.</div><div><br><div>On 3 Mar 2026, at 10:15, Desk &lt;desk@example.com&gt; wrote:</div><blockquote type="cite"><div>old</div></blockquote></div>`, "Yes."},
		{"thunderbird", `<p>Merci.</p><div class="moz-cite-prefix">Le 03/03/2026 à 10:15, Desk a écrit&nbsp;:<br></div><blockquote type="cite">old</blockquote>`, "Merci."},
		{"marker", `<p>Feito.</p><div>` + ReplyMarkerFor("pt") + `</div><p>Olá</p>`, "Feito."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ExtractReplyHTML(c.in)
			if r.Text != c.want || r.Confidence != ConfidenceHigh {
				t.Errorf("Text %q (%s %s), want %q", r.Text, r.By, r.Confidence, c.want)
			}
			if strings.Contains(r.Text, "old") || !strings.Contains(r.Full, c.want) {
				t.Errorf("Full %q", r.Full)
			}
		})
	}
}

func TestMessageReplyTextPrefersSurerHTML(t *testing.T) {
	raw := "From: a@example.com\r\nSubject: Re: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nAll good.\r\n\r\nold line one\r\n> quoted\r\n\r\n" +
		"--b\r\nContent-Type: text/html\r\n\r\n<div>All good.</div><div class=\"gmail_quote\">old line one<blockquote>quoted</blockquote></div>\r\n--b--\r\n"
	m, err := ParseBytes([]byte(raw), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := m.ReplyText()
	if r.Text != "All good." || r.By != CutHTMLQuote || r.Confidence != ConfidenceHigh {
		t.Fatalf("%q %s %s", r.Text, r.By, r.Confidence)
	}
}

func TestExtractReplyLongInput(t *testing.T) {
	// Lines past maxReplyLines are not examined: a marker there is not
	// seen, and the text stays whole.
	in := strings.Repeat("a\n", maxReplyLines) + ReplyMarker + "\nold"
	r := ExtractReply(in)
	if r.Full != in || r.By == CutMarker || !strings.HasPrefix(r.Text, "a\na\n") {
		t.Fatalf("bound not applied: by %s", r.By)
	}
	// GitHub's 750 KB "long quote" fixture finishes and keeps its reply.
	r = ExtractReply(readFixture(t, "testdata/reply/github/emails/email_long_quote.txt"))
	if r.Text == "" || r.Confidence == 0 {
		t.Error("long quote: empty text")
	}
}

func TestExtractReplyNoFalseHeaderBlock(t *testing.T) {
	in := "Please route this:\nFrom: my manager\nTo: finance\nThe invoice total is wrong."
	if r := ExtractReply(in); r.Text != in || r.By != CutNone {
		t.Errorf("%q by %s", r.Text, r.By)
	}
}

func TestExtractReplyHTMLClients(t *testing.T) {
	cases := []struct{ name, in, want, sig string }{
		{"outlook desktop pt-BR (Word HTML)", `<div class=WordSection1><p class=MsoNormal>Pode encerrar.<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>` +
			`<div><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal><b>De:</b> Central &lt;central@example.com.br&gt; <br><b>Enviada em:</b> terça-feira, 3 de março de 2026 10:15<br><b>Para:</b> Ana<br><b>Assunto:</b> Chamado 42<o:p></o:p></p></div></div>` +
			`<p class=MsoNormal>Texto antigo<o:p></o:p></p></div>`, "Pode encerrar.", ""},
		{"outlook ios pt-BR", `<div dir="auto">Ok, obrigado</div><div id="ms-outlook-mobile-signature" dir="auto">Obter o <a href="https://aka.ms/AAb9ysg">Outlook para iOS</a></div>` +
			`<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr"><b>De:</b> Central<br><b>Enviado:</b> terça-feira</div><div>Texto antigo</div>`, "Ok, obrigado", "Obter o Outlook para iOS"},
		{"iphone pt-BR", `<html><body dir="auto"><div dir="ltr">Recebido.</div><div dir="ltr"><br><div>Enviado do meu iPhone</div><div dir="ltr"><br><blockquote type="cite">Em 3 de mar. de 2026, à(s) 10:15, Central &lt;central@example.com.br&gt; escreveu:<br><br></blockquote></div>` +
			`<blockquote type="cite"><div dir="ltr">Texto antigo</div></blockquote></div></body></html>`, "Recebido.", "Enviado do meu iPhone"},
		{"gmail, signature only in the quote", `<div dir="ltr">Sim.</div><div class="gmail_quote"><div class="gmail_attr">On Tue, Desk &lt;d@example.com&gt; wrote:</div><blockquote class="gmail_quote">old<div class="gmail_signature">Desk team</div></blockquote></div>`, "Sim.", ""},
		{"apple mail signature", `<div>Certo.</div><div><br><div id="AppleMailSignature">Ana Souza<br>ACME</div><div><br>Em 3 de mar. de 2026, à(s) 10:15, Central &lt;c@example.com&gt; escreveu:<br><br></div><blockquote type="cite"><div>old</div></blockquote></div>`, "Certo.", "Ana Souza"},
		{"yahoo", `<div>Thanks</div><div id="yahoo_quoted_1234" class="yahoo_quoted"><div>On Tuesday, March 3, 2026, 10:15 AM, Desk &lt;desk@example.com&gt; wrote:</div><div>old</div></div>`, "Thanks", ""},
		{"gmail with signature", `<div dir="ltr">Feito.<br clear="all"><br><span class="gmail_signature_prefix">-- </span><br><div dir="ltr" class="gmail_signature">Ana Souza<br>ACME</div></div><br><div class="gmail_quote gmail_quote_container"><div class="gmail_attr">Em ter., 3 de mar. de 2026 às 10:15, Central &lt;c@example.com&gt; escreveu:</div><blockquote class="gmail_quote">old</blockquote></div>`, "Feito.", "Ana Souza"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ExtractReplyHTML(c.in)
			if r.Text != c.want || r.Confidence != ConfidenceHigh {
				t.Errorf("Text %q (%s %s), want %q", r.Text, r.By, r.Confidence, c.want)
			}
			if c.sig != "" && !strings.Contains(r.Signature, c.sig) || c.sig == "" && r.Signature != "" {
				t.Errorf("Signature %q, want %q", r.Signature, c.sig)
			}
			if strings.Contains(r.Text+r.Signature, "antigo") || strings.Contains(r.Text+r.Signature, "old") {
				t.Errorf("history kept: %q / %q", r.Text, r.Signature)
			}
		})
	}
}

func TestMobileSignatures(t *testing.T) {
	for _, s := range []string{
		"Sent from my iPhone", "Sent from my Samsung Galaxy smartphone.", "Sent from Outlook for Android",
		"Get Outlook for iOS", "Enviado do meu iPhone", "Enviado do meu smartphone Samsung Galaxy.",
		"Enviado desde mi iPhone", "Envoyé de mon iPhone", "Von meinem iPhone gesendet", "Inviato da iPhone",
		"Obter o Outlook para Android", "Enviado desde Outlook para iOS", "Gesendet von Outlook für Android<https://aka.ms/x>",
		"Sent from Yahoo Mail on Android", "Sent from my iPad", "Enviado do meu iPad",
	} {
		if !isMobileSig(s) {
			t.Errorf("%q not taken for a client signature", s)
		}
	}
	for _, s := range []string{
		"Sent from my desk, which is easier than my phone.", "The invoice was sent from our office, twice.",
		"Enviado do escritório, mas ninguém recebeu.", "I sent the logs yesterday",
	} {
		if isMobileSig(s) {
			t.Errorf("%q taken for a client signature", s)
		}
	}
}
