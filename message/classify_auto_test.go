package message

import "testing"

// The messages below are written for these tests, after the formats that
// servers and clients document (named in each comment). None is copied from
// the shared corpus.

func TestClassifyAutomatic(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		kind    Kind
		allowed bool
	}{
		// RFC 5230 and Dovecot Pigeonhole vacation: Auto-Submitted:
		// auto-replied (vacation), Precedence: bulk, "Auto: <subject>".
		{"pigeonhole vacation under bulk", "From: ana@example.org\nTo: helpdesk@example.com\nSubject: Auto: Printer broken\n" +
			"Auto-Submitted: auto-replied (vacation)\nPrecedence: bulk\nIn-Reply-To: <t1@example.com>\n\nI am on vacation.\n", KindAutoReply, false},
		// Unix vacation(1): Precedence: junk, default subject "away from my
		// mail", no Auto-Submitted.
		{"unix vacation under junk", "From: joe@example.org\nSubject: away from my mail\nPrecedence: junk\n\n" +
			"I will not be reading my mail for a while. Your mail regarding \"Printer\" will be read when I'm back.\n", KindAutoReply, false},
		// Exchange 2013+ out-of-office reply [MS-OXCMAIL]: localised
		// "Automatic reply:" subject, X-Auto-Response-Suppress: All and
		// X-MS-Exchange-Inbox-Rules-Loop, no Auto-Submitted.
		{"exchange oof", "From: Bea <bea@example.org>\nSubject: Automatic reply: Printer broken\nX-Auto-Response-Suppress: All\n" +
			"X-MS-Exchange-Inbox-Rules-Loop: bea@example.org\nThread-Topic: Printer broken\n\nI am out of the office until Monday.\n", KindAutoReply, false},
		// Exchange inbox-rule reply with an English subject of the user's
		// own choosing.
		{"exchange rule reply", "From: bea@example.org\nSubject: Thanks\nX-Auto-Response-Suppress: All\n" +
			"X-MS-Exchange-Inbox-Rules-Loop: bea@example.org\n\nThanks, got it.\n", KindAutoReply, false},
		// Exchange 2003 and older: "Out of Office AutoReply:".
		{"old exchange oof", "From: bea@example.org\nSubject: Out of Office AutoReply: Printer broken\n\nBack Monday.\n", KindAutoReply, false},
		// Lotus Notes/Domino out-of-office agent: "AUTO: <name> is out of
		// the office (returning <date>)", no marker header.
		{"domino auto", "From: Carla Souza <carla@example.org>\nSubject: AUTO: Carla Souza is out of the office (returning 05/01/2026)\n\n" +
			"I am out of the office until 05/01/2026.\n", KindAutoReply, false},
		// Domino's out-of-office service marks its replies with the $OOS
		// item; exported by a gateway, the subject can be the user's own.
		{"domino $oos", "From: carla@example.org\nSubject: Re: Printer\n$OOS: 1\n\nBack in May.\n", KindAutoReply, false},
		{"domino x-notes-item", "From: carla@example.org\nSubject: Re: Printer\nX-Notes-Item: 1; name=$OOS\n\nBack in May.\n", KindAutoReply, false},
		// $AutoForward alone: a person's mail forwarded by an agent.
		{"domino autoforward", "From: carla@example.org\nSubject: Printer\n$AutoForward: 1\n\nIt is broken.\n", KindNormal, true},
		{"domino autoforward with vacation subject", "From: carla@example.org\nSubject: Ausente\n$AutoForward: 1\n\nx\n", KindAutoReply, false},
		// Outlook's localised out-of-office subjects.
		{"pt-BR", "From: d@example.org\nSubject: =?utf-8?q?Resposta_autom=C3=A1tica=3A_Impressora?=\n\nEstou de férias.\n", KindAutoReply, false},
		{"es", "From: d@example.org\nSubject: =?iso-8859-1?q?Respuesta_autom=E1tica:_Impresora?=\n\nEstoy fuera.\n", KindAutoReply, false},
		{"es fuera", "From: d@example.org\nSubject: Fuera de la oficina: Impresora\n\nx\n", KindAutoReply, false},
		{"fr", "From: d@example.org\nSubject: =?utf-8?q?R=C3=A9ponse_automatique_=3A_Imprimante?=\n\nJe suis absent.\n", KindAutoReply, false},
		{"de abwesenheitsnotiz", "From: d@example.org\nSubject: Abwesenheitsnotiz: Drucker\n\nx\n", KindAutoReply, false},
		{"de automatische antwort", "From: d@example.org\nSubject: Automatische Antwort: Drucker\n\nx\n", KindAutoReply, false},
		{"it", "From: d@example.org\nSubject: Risposta automatica: Stampante\n\nSono fuori ufficio.\n", KindAutoReply, false},
		{"it fuori ufficio", "From: d@example.org\nSubject: Fuori ufficio: Stampante\n\nx\n", KindAutoReply, false},
		{"nl", "From: d@example.org\nSubject: Automatisch antwoord: Printer\n\nIk ben afwezig.\n", KindAutoReply, false},
		{"sv", "From: d@example.org\nSubject: Autosvar: Skrivare\n\nx\n", KindAutoReply, false},
		{"pl", "From: d@example.org\nSubject: =?utf-8?q?Automatyczna_odpowied=C5=BA=3A_Drukarka?=\n\nx\n", KindAutoReply, false},
		{"ja", "From: d@example.org\nSubject: =?utf-8?b?6Ieq5YuV6L+U5L+hOiDjg5fjg6rjg7Pjgr8=?=\n\nx\n", KindAutoReply, false},
		// Vacation texts of several languages in an answer sent with
		// Precedence: bulk (vacation programs add it).
		{"fr body", "From: e@example.org\nSubject: Re: Imprimante\nPrecedence: bulk\n\nJe suis actuellement absente, de retour le 3 mars.\n", KindAutoReply, false},
		{"es body", "From: e@example.org\nSubject: RE: Impresora\nPrecedence: junk\n\nMe encuentro fuera de la oficina hasta el lunes.\n", KindAutoReply, false},
		{"de body", "From: e@example.org\nSubject: AW: Drucker\nPrecedence: bulk\n\nVielen Dank. Ich bin bis zum 5. Mai nicht im Büro.\n", KindAutoReply, false},
		{"it body", "From: e@example.org\nSubject: R: Stampante\nPrecedence: bulk\n\nSono fuori ufficio fino al 10.\n", KindAutoReply, false},
		{"nl body", "From: e@example.org\nSubject: Re: Printer\nPrecedence: bulk\n\nIk ben momenteel afwezig.\n", KindAutoReply, false},
		{"en body", "From: e@example.org\nSubject: Re: Printer\nPrecedence: bulk\n\nThank you for your email. I am away from the office until Monday.\n", KindAutoReply, false},
		// A person's answer with the same words, without a sign of a program.
		{"person answer", "From: e@example.org\nSubject: Re: Printer\nIn-Reply-To: <t9@example.com>\n\nI am out of the office until Monday, then I will check it.\n", KindNormal, true},
		// A one-word vacation subject is weak, but with Precedence: bulk
		// (which vacation programs add) it is an auto-reply, not list mail.
		{"ausente under bulk", "From: e@example.org\nSubject: Ausente\nPrecedence: bulk\n\nEstarei ausente até segunda.\n", KindAutoReply, false},
		{"absence under junk", "From: e@example.org\nSubject: Absence\nPrecedence: junk\n\nJe suis absent jusqu'au 3 mars.\n", KindAutoReply, false},
		// A subject that is only a vacation word, as autoresponders are set
		// up, even without any header.
		{"bare ausente", "From: e@example.org\nSubject: Ausente\n\nEstarei ausente até segunda.\n", KindAutoReply, false},
		{"bare urlaub", "From: e@example.org\nSubject: Urlaub!\n\nBis 3. März.\n", KindAutoReply, false},
		{"person ausente amanha", "From: e@example.org\nSubject: Ausente amanhã, consulta médica\n\nNão poderei ir.\n", KindNormal, true},
		// A "Re:" subject under Precedence: bulk with a vacation text.
		{"re with vacation body", "From: e@example.org\nSubject: Re: Impressora\nPrecedence: bulk\nIn-Reply-To: <t2@example.com>\n\n" +
			"Estou em férias e retorno no dia 10. Sem acesso ao e-mail.\n", KindAutoReply, false},
		// A procmail vacation recipe: X-Loop against loops, a "Re:" subject.
		{"procmail vacation", "From: e@example.org\nSubject: Re: Printer\nX-Loop: e@example.org\n\nI am on vacation until June.\n", KindAutoReply, false},
		// cPanel/Exim autoresponder.
		{"cpanel", "From: f@example.org\nSubject: Re: Printer\nX-Autorespond: Re: Printer\nPrecedence: auto_reply\n\nThanks.\n", KindAutoReply, false},
		{"x-autogenerated reply", "From: f@example.org\nSubject: Re: Printer\nX-Autogenerated: Reply\n\nAway.\n", KindAutoReply, false},
		{"x-vacation", "From: f@example.org\nSubject: Re: Printer\nX-Vacation: yes\n\nAway.\n", KindAutoReply, false},
		// An automatically forwarded message is its author's mail.
		{"x-autogenerated forward", "From: f@example.org\nSubject: Printer\nX-Autogenerated: Forward\n\nIt is broken.\n", KindNormal, true},
		// People writing about absences and auto-replies.
		{"person on auto-replies", "From: g@example.org\nSubject: Automatic replies are not working\n\nOutlook does not send them.\n", KindNormal, true},
		{"person on vacation", "From: g@example.org\nSubject: Vacation next week\n\nI am on vacation next week, please reassign my tickets.\n", KindNormal, true},
		{"person absence", "From: g@example.org\nSubject: Absence: sick today\n\nI am ill today.\n", KindNormal, true},
		// A newsletter with vacation words is list mail (RFC 2369 headers).
		{"newsletter", "From: news@example.org\nSubject: Summer vacation deals\nPrecedence: bulk\nList-Unsubscribe: <mailto:u@example.org>\n\nOn vacation? Book now.\n", KindList, false},
		// The sender asks for no automatic answer: a person's message, not
		// to be answered automatically.
		{"suppress", "From: h@example.org\nSubject: Help\nX-Auto-Response-Suppress: OOF, AutoReply\n\nPlease help.\n", KindNormal, false},
		{"suppress dr only", "From: h@example.org\nSubject: Help\nX-Auto-Response-Suppress: DR, RN\n\nPlease help.\n", KindNormal, true},

		// TMDA confirmation request (TMDA's autoresponse code and its
		// confirm_request template): X-Delivery-Agent: TMDA, Auto-Submitted:
		// auto-replied, Precedence: bulk, the original's headers attached.
		{"tmda", "From: \"Pat\" <pat-confirm-123.abc@example.net>\nTo: helpdesk@example.com\nSubject: Please confirm your message\n" +
			"Auto-Submitted: auto-replied\nPrecedence: bulk\nX-Delivery-Agent: TMDA/1.1.12 (Macallan)\nIn-Reply-To: <t3@example.com>\n" +
			"Content-Type: multipart/mixed; boundary=\"b\"\n\n" +
			"--b\nContent-Type: text/plain\nContent-Description: Confirmation Request\n\n" +
			"This message was created automatically by mail delivery software (TMDA).\n\n" +
			"Your message attached below is being held because the address <helpdesk@example.com> has not been verified.\n" +
			"To release your message for delivery, please send an empty message to the following address.\n" +
			"--b\nContent-Type: text/rfc822-headers\nContent-Description: Original Message Headers\n\n" +
			"From: helpdesk@example.com\nMessage-ID: <t3@example.com>\n\n--b--\n", KindChallenge, false},
		// A challenge built as an RFC 3464 delivery report by a mail server
		// with a sender-verification filter.
		{"challenge as dsn", "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nSubject: Delivery Status Notification (verification required)\n" +
			"Content-Type: multipart/report; report-type=delivery-status; boundary=R\n\n" +
			"--R\nContent-Type: text/plain\n\nYour message to kim@example.net is being held until you verify that you are a real person.\n" +
			"Visit https://verify.example.net/c/abc to confirm.\n" +
			"--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n" +
			"Final-Recipient: rfc822; kim@example.net\nAction: delayed\nStatus: 4.7.0\n\n--R--\n", KindChallenge, false},
		// cPanel BoxTrapper verification request.
		{"boxtrapper", "From: kim@example.net\nSubject: Your email requires verification verify#a1b2c3\n\n" +
			"The message you sent requires that you verify that you are a real live human being and not a spam source.\n", KindChallenge, false},
		// Boxbe guest-list request.
		{"boxbe", "From: Boxbe <notify@boxbe.com>\nSubject: Request to join the guest list of Kim\nAuto-Submitted: auto-generated\n\n" +
			"Kim uses Boxbe. Your message will be delivered once you are added to the guest list: https://www.boxbe.com/approve\n", KindChallenge, false},
		// Spam Arrest-style verification.
		{"portuguese", "From: kim@example.net\nSubject: Re: Impressora\nAuto-Submitted: auto-replied\n\n" +
			"Sua mensagem está retida. Confirme que você é humano clicando no link abaixo.\n", KindChallenge, false},
		{"spamarrest", "From: kim@example.net\nSubject: Re: Printer [Verification required]\nIn-Reply-To: <t4@example.com>\n\n" +
			"I use Spam Arrest. Please click https://www.spamarrest.com/verify?x=1 to prove you are a human, and your message will be released.\n", KindChallenge, false},
		// SaneBox-style "please verify you are human" request.
		{"verify human", "From: Kim's assistant <no-reply@example.net>\nSubject: Please verify you are human\n\n" +
			"Kim only accepts mail from known senders. Click below to confirm that you are a real person.\n", KindChallenge, false},
		// A challenge as a failed DSN whose text says how to get the
		// message delivered.
		{"challenge as failed dsn", "From: MAILER-DAEMON@mx.example.net\nSubject: Returned mail: sender verification required\n" +
			"Content-Type: multipart/report; report-type=delivery-status; boundary=R\n\n" +
			"--R\nContent-Type: text/plain\n\nSender verification is pending for your message to kim@example.net.\n" +
			"To have your message delivered, please click https://verify.example.net/abc\n" +
			"--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n" +
			"Final-Recipient: rfc822; kim@example.net\nAction: failed\nStatus: 5.7.1\nDiagnostic-Code: smtp; 550 5.7.1 sender verification pending\n\n--R--\n", KindChallenge, false},
		// A list's subscription confirmation must not be answered either.
		{"subscription confirmation", "From: list-request@lists.example.org\nSubject: confirm 3f2a\nPrecedence: bulk\n\n" +
			"Someone asked to subscribe you. Reply to this message to confirm.\n", KindChallenge, false},
		// A genuine rejection by sender verification (Exim callout) stays a
		// bounce.
		{"sender verify failed", "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\nSubject: Mail delivery failed: returning message to sender\n" +
			"X-Failed-Recipients: kim@example.net\nAuto-Submitted: auto-replied\n\n" +
			"This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its recipients.\n\n" +
			"  kim@example.net\n    SMTP error from remote mail server after RCPT TO:<kim@example.net>:\n    550 Sender verify failed\n", KindBounce, false},
		// A spam-filter rejection that mentions an allow list stays a bounce.
		{"rejection mentioning whitelist", "From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender\n\n" +
			"Your message could not be delivered to kim@example.net:\n550 5.7.1 Message rejected as spam. Ask the recipient to add you to their whitelist.\n", KindBounce, false},
		// A person discussing challenge-response systems in an answer.
		{"person on challenges", "From: g@example.org\nSubject: Re: spam\nIn-Reply-To: <t5@example.com>\n\n" +
			"Our challenge-response filter asks senders to verify that they are a real person; please add us to the whitelist.\n", KindNormal, true},
		{"rejection not a spammer", "From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n\n" +
			"Your message could not be delivered to kim@example.net:\n550 5.7.1 Rejected as spam. If you are not a spammer, please contact postmaster@example.net.\n", KindBounce, false},
		// A person asking us to confirm is not a challenge.
		{"person confirm", "From: g@example.org\nSubject: Please confirm my order\n\nCan you confirm you received it?\n", KindNormal, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, tc.raw, Options{})
			c := Classify(m, ClassifyOptions{OwnAddresses: []string{"helpdesk@example.com"}})
			if c.Kind != tc.kind || c.AutoAnswerAllowed != tc.allowed {
				t.Errorf("kind %s allowed %v, want %s %v (signals %v)", c.Kind, c.AutoAnswerAllowed, tc.kind, tc.allowed, c.Signals)
			}
			if c.Kind == KindChallenge && c.Bounce != nil {
				t.Errorf("challenge carries a bounce: %+v", c.Bounce)
			}
		})
	}
}

func TestKindChallengeString(t *testing.T) {
	if got := KindChallenge.String(); got != "challenge" {
		t.Errorf("KindChallenge.String() = %q", got)
	}
}
