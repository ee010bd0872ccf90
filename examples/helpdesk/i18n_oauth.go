package main

// The texts of the connect buttons, the login method choice and the
// re-authorise banner (oauth.go), merged into the catalogs.
var oauthCatalog = map[string]map[string]string{
	langEN: {
		"form.auth":                        "Sign-in",
		"form.auth.method":                 "Login method",
		"form.auth.password":               "Password",
		"form.auth.oauth2":                 "OAuth2: a user signs in with Microsoft 365 or Google",
		"form.auth.app":                    "App-only: a shared mailbox (Microsoft 365)",
		"form.auth.hint":                   "With OAuth2 or app-only the password is not used: save, then press Connect (or Grant admin consent). The username is the mailbox's account; for app-only, the shared mailbox's address.",
		"form.auth.tenant":                 "Tenant ID (app-only)",
		"form.auth.tenant.hint":            "Filled in by the admin consent; or type the directory (tenant) ID.",
		"mailboxes.connect.microsoft":      "Connect Microsoft 365",
		"mailboxes.connect.google":         "Connect Google",
		"mailboxes.connect.adminconsent":   "Grant admin consent",
		"mailboxes.connect.account":        "Connected as %s",
		"mailboxes.connect.done.connected": "The mailbox is connected.",
		"mailboxes.connect.done.consented": "Admin consent granted: the shared mailbox uses app-only access.",
		"mailboxes.connect.err.state":      "This sign-in does not belong to a connect started in this browser, or it expired or was used already. Press Connect again.",
		"mailboxes.connect.err.denied":     "The sign-in or the consent was declined.",
		"mailboxes.connect.err.idtoken":    "The provider's answer did not check out (its identity token); nothing was saved.",
		"mailboxes.connect.err.norefresh":  "The provider gave no refresh token; connect again and accept access while you are away.",
		"mailboxes.connect.err.other":      "Connecting the mailbox failed.",
		"mailboxes.reauth.title":           "These mailboxes are not being read or sent from until someone signs in:",
		"mailboxes.reauth.reauth_required": "the provider refused the saved authorisation (revoked, expired or password changed)",
		"mailboxes.reauth.not_connected":   "not connected yet",
		"mailboxes.reauth.not_consented":   "admin consent not granted yet",
		"mailboxes.device.button":          "Connect with a code (no callback URL)",
		"mailboxes.device.title":           "Connect with a code",
		"mailboxes.device.open":            "On any device, open",
		"mailboxes.device.code":            "sign in with the mailbox's account and enter this code:",
		"mailboxes.device.pending":         "Waiting for the sign-in (the code is valid until %s)…",
		"mailboxes.device.reload":          "Reload to see whether the sign-in is done.",
		"mailboxes.device.expired":         "The code expired before anyone signed in. Start again.",
		"mailboxes.device.replaced":        "Another connect with a code was started for this mailbox.",
		"mailboxes.device.back":            "Back to the mailboxes",
	},
	langPT: {
		"form.auth":                        "Autenticação",
		"form.auth.method":                 "Método de login",
		"form.auth.password":               "Senha",
		"form.auth.oauth2":                 "OAuth2: um usuário entra com Microsoft 365 ou Google",
		"form.auth.app":                    "Somente aplicativo: caixa compartilhada (Microsoft 365)",
		"form.auth.hint":                   "Com OAuth2 ou somente aplicativo a senha não é usada: salve e depois clique em Conectar (ou Conceder consentimento do administrador). O usuário é a conta da caixa; no modo somente aplicativo, o endereço da caixa compartilhada.",
		"form.auth.tenant":                 "ID do locatário (somente aplicativo)",
		"form.auth.tenant.hint":            "Preenchido pelo consentimento do administrador; ou digite o ID do diretório (locatário).",
		"mailboxes.connect.microsoft":      "Conectar Microsoft 365",
		"mailboxes.connect.google":         "Conectar Google",
		"mailboxes.connect.adminconsent":   "Conceder consentimento do administrador",
		"mailboxes.connect.account":        "Conectada como %s",
		"mailboxes.connect.done.connected": "A caixa está conectada.",
		"mailboxes.connect.done.consented": "Consentimento do administrador concedido: a caixa compartilhada usa acesso somente de aplicativo.",
		"mailboxes.connect.err.state":      "Este login não pertence a uma conexão iniciada neste navegador, ou expirou ou já foi usado. Clique em Conectar de novo.",
		"mailboxes.connect.err.denied":     "O login ou o consentimento foi recusado.",
		"mailboxes.connect.err.idtoken":    "A resposta do provedor não pôde ser validada (token de identidade); nada foi salvo.",
		"mailboxes.connect.err.norefresh":  "O provedor não enviou um token de atualização; conecte de novo e aceite o acesso offline.",
		"mailboxes.connect.err.other":      "A conexão da caixa falhou.",
		"mailboxes.reauth.title":           "Estas caixas não estão sendo lidas nem usadas para envio até que alguém entre novamente:",
		"mailboxes.reauth.reauth_required": "o provedor recusou a autorização salva (revogada, expirada ou senha alterada)",
		"mailboxes.reauth.not_connected":   "ainda não conectada",
		"mailboxes.reauth.not_consented":   "consentimento do administrador ainda não concedido",
		"mailboxes.device.button":          "Conectar com um código (sem URL de retorno)",
		"mailboxes.device.title":           "Conectar com um código",
		"mailboxes.device.open":            "Em qualquer dispositivo, abra",
		"mailboxes.device.code":            "entre com a conta da caixa e digite este código:",
		"mailboxes.device.pending":         "Aguardando o login (o código vale até %s)…",
		"mailboxes.device.reload":          "Recarregue para ver se o login foi concluído.",
		"mailboxes.device.expired":         "O código expirou antes que alguém entrasse. Comece de novo.",
		"mailboxes.device.replaced":        "Outra conexão com código foi iniciada para esta caixa.",
		"mailboxes.device.back":            "Voltar para as caixas",
	},
}

func init() {
	for lang, msgs := range oauthCatalog {
		for k, v := range msgs {
			catalog[lang][k] = v
		}
	}
}
