package main

// The texts of the field checks on save (validate.go, workflowvalid.go)
// and of the paged message lists, merged into the catalogs.
var deskCatalog = map[string]map[string]string{
	langEN: {
		"err.host_port":           "Type only the server name here; the port goes in the Port field.",
		"err.host_url":            "Type only the server name (mail.yourcompany.com), without a prefix such as imaps:// or smtps://.",
		"err.host_name":           "Not a server name or IP address (mail.yourcompany.com, 203.0.113.7).",
		"err.too_many_addresses":  "At most %d addresses.",
		"err.bad_address_lines":   "Not an e-mail address: %s.",
		"wf.preset.loaded":        "The ready-made message is in the form below; press Save to keep it.",
		"resolve.empty_body":      "For this request the body comes out empty: check the template's {{if}} conditions.",
		"resolve.bad_recipient":   "A recipient's address was refused by the outbox (check the users' and groups' addresses).",
		"common.confirm.other":    "%s %s?",
		"wf.notsaved":             "The step was not saved.",
		"messages.sent.omitted":   "The %d oldest sent messages are not listed: the page lists the latest %d.",
		"messages.contract.back":  "← All contracts",
		"messages.sent.pages":     "Sent mail pages",
		"messages.received.pages": "Received mail pages",
	},
	langPT: {
		"err.host_port":           "Digite aqui só o nome do servidor; a porta vai no campo Porta.",
		"err.host_url":            "Digite só o nome do servidor (mail.suaempresa.com.br), sem prefixo como imaps:// ou smtps://.",
		"err.host_name":           "Não é um nome de servidor nem um endereço IP (mail.suaempresa.com.br, 203.0.113.7).",
		"err.too_many_addresses":  "No máximo %d endereços.",
		"err.bad_address_lines":   "Não é um endereço de e-mail: %s.",
		"wf.preset.loaded":        "A mensagem pronta está no formulário abaixo; clique em Gravar para mantê-la.",
		"resolve.empty_body":      "Para esta solicitação o corpo fica vazio: verifique as condições {{if}} do modelo.",
		"resolve.bad_recipient":   "O endereço de um destinatário foi recusado pela fila de saída (verifique os endereços dos usuários e grupos).",
		"common.confirm.other":    "%s %s?",
		"wf.notsaved":             "A etapa não foi gravada.",
		"messages.sent.omitted":   "As %d mensagens enviadas mais antigas não aparecem: a página lista as %d mais recentes.",
		"messages.contract.back":  "← Todos os contratos",
		"messages.sent.pages":     "Páginas das mensagens enviadas",
		"messages.received.pages": "Páginas das mensagens recebidas",
	},
}

func init() {
	for lang, msgs := range deskCatalog {
		for k, v := range msgs {
			catalog[lang][k] = v
		}
	}
}
