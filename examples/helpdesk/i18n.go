package main

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

// The pages speak English and Brazilian Portuguese. Every string a page
// shows comes from the catalogs below, looked up by key; the templates hold
// no text of their own. A key missing from a language falls back to
// English, and a key missing everywhere shows as itself, so a test catches
// it.

const (
	langEN = "en"
	langPT = "pt-BR"
)

// languages the pages offer, in the order of the switch.
var languages = []string{langEN, langPT}

var matcher = language.NewMatcher([]language.Tag{language.English, language.BrazilianPortuguese})

// langCookie remembers the language chosen with the switch.
const langCookie = "lang"

// pickLanguage chooses the page language: ?lang= (the switch, remembered in
// a cookie), then the cookie, then the browser's Accept-Language.
func pickLanguage(w http.ResponseWriter, r *http.Request) string {
	if q := r.URL.Query().Get("lang"); q != "" {
		if l, ok := knownLanguage(q); ok {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, HttpOnly: true})
			return l
		}
	}
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := knownLanguage(c.Value); ok {
			return l
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := matcher.Match(tags...)
	if i == 1 {
		return langPT
	}
	return langEN
}

func knownLanguage(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "en":
		return langEN, true
	case "pt-br", "pt":
		return langPT, true
	}
	return "", false
}

// tr translates key into lang, formatting args with fmt when the message
// has verbs.
func tr(lang, key string, args ...any) string {
	msg, ok := catalog[lang][key]
	if !ok {
		msg, ok = catalog[langEN][key]
	}
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// catalogKeys lists every key of a language, sorted (tests compare the
// languages).
func catalogKeys(lang string) []string {
	keys := make([]string, 0, len(catalog[lang]))
	for k := range catalog[lang] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var catalog = map[string]map[string]string{
	langEN: {
		"app.title":         "Helpdesk mail",
		"nav.mailboxes":     "Mailboxes",
		"nav.contracts":     "Contracts",
		"nav.workflow":      "Email step",
		"nav.messages":      "Messages",
		"nav.language":      "Language",
		"lang.en":           "English",
		"lang.pt-BR":        "Português (Brasil)",
		"common.save":       "Save",
		"common.cancel":     "Cancel",
		"common.edit":       "Edit",
		"common.delete":     "Delete",
		"common.none":       "—",
		"common.yes":        "yes",
		"common.no":         "no",
		"common.new":        "New",
		"common.actions":    "Actions",
		"common.required":   "required",
		"common.optional":   "optional",
		"common.saved":      "Saved.",
		"common.deleted":    "Deleted.",
		"common.errsummary": "Please correct the following:",
		"common.error":      "Error",
		"common.details":    "Technical details",
		"common.notfound":   "Not found.",

		"kind.inbound":  "Inbound",
		"kind.outbound": "Outbound",
		"kind.unset":    "Not chosen",

		"mailboxes.title":       "Mailboxes",
		"mailboxes.intro":       "Inbound mailboxes are read over IMAP; what arrives is filed under the contract that owns the mailbox. Outbound mailboxes send the system's mail over SMTP.",
		"mailboxes.empty":       "No mailbox yet.",
		"mailboxes.new":         "New mailbox",
		"mailboxes.edit":        "Edit mailbox",
		"mailboxes.description": "Description",
		"mailboxes.kind":        "Kind",
		"mailboxes.address":     "E-mail address",
		"mailboxes.server":      "Server",
		"mailboxes.health":      "Health",
		"mailboxes.enabled":     "Enabled",
		"mailboxes.system":      "System mailbox",
		"mailboxes.makesystem":  "Use as system mailbox",
		"mailboxes.contracts":   "Contracts",
		"mailboxes.isSystem":    "This is the system outbound mailbox.",

		"form.general":            "General",
		"form.inbound":            "Inbound settings (IMAP)",
		"form.inbound.hint":       "Used only when the kind is Inbound.",
		"form.outbound":           "Outbound settings (SMTP)",
		"form.outbound.hint":      "Used only when the kind is Outbound.",
		"form.host":               "Server host",
		"form.port":               "Port",
		"form.port.hint":          "Empty: 993 (IMAP) or 587 (SMTP).",
		"form.security":           "Security",
		"form.security.default":   "Automatic",
		"form.security.tls":       "TLS",
		"form.security.starttls":  "STARTTLS",
		"form.security.plaintext": "None (plaintext)",
		"form.allowPlaintext":     "I accept sending the password in the clear",
		"form.username":           "Username",
		"form.password":           "Password",
		"form.password.keep":      "Leave empty to keep the saved password.",
		"form.password.never":     "Never shown again once saved; stored encrypted.",
		"form.password.again":     "For safety the password is not kept in the page: type it again.",
		"form.folder":             "Folder",
		"form.postAction":         "After reading",
		"form.post.seen":          "Mark as read",
		"form.post.move":          "Move to folder",
		"form.post.delete":        "Delete",
		"form.post.keep":          "Leave untouched",
		"form.moveTo":             "Target folder",
		"form.fromName":           "Sender name",
		"form.fromAddress":        "Sender address",
		"form.replyTo":            "Reply-To",
		"form.maxConnections":     "Maximum connections",
		"form.enabled":            "Enabled",
		"form.test":               "Test connection",
		"form.test.ok":            "Connection test succeeded.",
		"form.test.failed":        "Connection test failed.",
		"form.test.unavailable":   "The connection test is not available in this build.",
		"form.hint":               "What to do",

		"err.required":      "This field is required.",
		"err.out_of_range":  "This value is out of range.",
		"err.bad_address":   "Not a valid e-mail address (user@example.com).",
		"err.insecure":      "Plaintext sends the password in the clear: tick the acceptance box or choose TLS.",
		"err.not_allowed":   "Not allowed for this kind of mailbox.",
		"err.conflict":      "This setting conflicts with another one.",
		"err.unsupported":   "This option is not supported.",
		"err.control_chars": "Line breaks and control characters are not allowed.",
		"err.invalid":       "This value is not valid.",
		"err.number":        "Enter a whole number.",
		"err.store":         "The change could not be saved: %s",

		"rule.contract.not_found":   "This mailbox is not registered.",
		"rule.contract.wrong_kind":  "This mailbox is of the wrong kind.",
		"rule.contract.taken":       "This inbound mailbox already belongs to another contract (%s).",
		"rule.contract.in_use":      "This mailbox is still used by contract %s.",
		"rule.contract.in_use_sys":  "This mailbox is the system mailbox.",
		"rule.contract.kind_change": "The kind cannot change while the mailbox is used (%s).",
		"rule.contract.invalid":     "This value is not valid.",
		"rule.contract.no_contract": "Contract not found.",

		"health.unknown":    "—",
		"health.ok":         "OK",
		"health.idle":       "Idle",
		"health.waiting":    "Connected",
		"health.fetching":   "Reading",
		"health.connecting": "Connecting",
		"health.starting":   "Starting",
		"health.retrying":   "Retrying",
		"health.failing":    "Failing",
		"health.down":       "Down",
		"health.paused":     "Paused",
		"health.disabled":   "Disabled",
		"health.stopped":    "Stopped",
		"health.queue":      "%d queued",

		"contracts.title":        "Contracts",
		"contracts.intro":        "A contract sends its mail through its outbound mailbox and owns the inbound mailboxes its customers write to.",
		"contracts.empty":        "No contract yet.",
		"contracts.new":          "New contract",
		"contracts.edit":         "Edit contract",
		"contracts.name":         "Name",
		"contracts.outbound":     "Outbound mailbox",
		"contracts.outbound.sys": "None (the system mailbox is used)",
		"contracts.inbound":      "Inbound mailboxes",
		"contracts.inbound.none": "No inbound mailbox is free. Create one on the Mailboxes page.",
		"contracts.inbound.hint": "Only inbound mailboxes not owned by another contract are listed.",
		"contracts.nooutbound":   "No outbound mailbox is registered yet.",

		"wf.title":             "Email step",
		"wf.intro":             "The workflow step “send message by email”: choose the mailbox it goes out through, who receives it and what it says, then send a test to see which mailbox the resolver picks and why.",
		"wf.step":              "Step",
		"wf.name":              "Step name",
		"wf.mailbox":           "Mailbox",
		"wf.choice.system":     "System",
		"wf.choice.system.h":   "The system outbound mailbox.",
		"wf.choice.contract":   "Contract",
		"wf.choice.contract.h": "The outbound mailbox of the contract the request belongs to (the system mailbox when it has none).",
		"wf.choice.specific":   "Specific",
		"wf.choice.specific.h": "The mailbox chosen below.",
		"wf.specific":          "Specific mailbox",
		"wf.recipients":        "Recipients",
		"wf.users":             "Users",
		"wf.groups":            "Groups",
		"wf.addresses":         "Other addresses",
		"wf.addresses.hint":    "One per line.",
		"wf.delivery":          "Delivery",
		"wf.delivery.each":     "One message per recipient",
		"wf.delivery.bcc":      "One message, the others in Bcc",
		"wf.templates":         "Message",
		"wf.subject":           "Subject template",
		"wf.text":              "Body template (text)",
		"wf.vars":              "Variables: {{.Request}}, {{.Title}}, {{.Requester}}, {{.Contract}}, {{.Sender}}.",
		"wf.preset":            "Start from a ready-made message",
		"wf.preset.load":       "Load",
		"wf.preset.opened":     "Request opened",
		"wf.preset.approval":   "Approval requested",
		"wf.preset.completed":  "Request completed",
		"wf.flow":              "Test request",
		"wf.contract":          "Contract of the request",
		"wf.contract.none":     "No contract",
		"wf.request":           "Request number",
		"wf.requestTitle":      "Request title",
		"wf.send":              "Send test",
		"wf.result":            "Result",
		"wf.decision":          "Mailbox chosen",
		"wf.rule":              "Rule",
		"wf.reason":            "Why",
		"wf.to":                "Recipients",
		"wf.noaddress":         "Users without an address (skipped)",
		"wf.invalid":           "Invalid addresses (skipped)",
		"wf.rendered":          "Subject sent",
		"wf.ids":               "Queued messages",
		"wf.recorded":          "Recorded (no outbound engine in this build: nothing was sent).",
		"wf.failed":            "The step could not run.",

		"rule.specific":                  "Specific: the step names mailbox %s.",
		"rule.contract":                  "Contract: %s is the outbound mailbox of contract %s.",
		"rule.system_no_contract":        "System: the step asks for the contract's mailbox, but the request has no contract, so the system mailbox %s.",
		"rule.system_contract_has_none":  "System: contract %s has no outbound mailbox, so the system mailbox %s.",
		"rule.system":                    "System: the system mailbox %s.",
		"rule.failover":                  "Failover: the contract's mailbox is down, so the system mailbox %s.",
		"resolve.no_system":              "No system mailbox is set. Choose one on the Mailboxes page.",
		"resolve.not_found":              "The mailbox does not exist.",
		"resolve.not_outbound":           "The mailbox is not an outbound mailbox.",
		"resolve.disabled":               "The mailbox is disabled.",
		"resolve.contract_not_found":     "The contract does not exist.",
		"resolve.bad_choice":             "Unknown mailbox choice.",
		"resolve.no_recipients":          "No recipient has an e-mail address.",
		"resolve.template":               "The %s template is not valid: %s",
		"resolve.header":                 "A line break would reach a mail header.",
		"resolve.other":                  "The step failed: %s",
		"wf.specific.none":               "— choose —",
		"messages.title":                 "Messages",
		"messages.intro":                 "Mail sent and received, grouped by contract, and the messages put aside in quarantine with their reason.",
		"messages.nocontract":            "Without contract",
		"messages.sent":                  "Sent",
		"messages.received":              "Received",
		"messages.quarantine":            "Quarantine",
		"messages.empty":                 "Nothing yet.",
		"messages.when":                  "When",
		"messages.mailbox":               "Mailbox",
		"messages.to":                    "To",
		"messages.from":                  "From",
		"messages.subject":               "Subject",
		"messages.state":                 "State",
		"messages.reason":                "Reason",
		"messages.messageid":             "Message-ID",
		"messages.thread":                "Request",
		"messages.state.recorded":        "recorded",
		"messages.state.queued":          "queued",
		"messages.state.sent":            "sent",
		"messages.state.dead":            "failed",
		"messages.quarantine.empty":      "No message in quarantine.",
		"messages.quarantine.size":       "Size",
		"messages.quarantine.key":        "Key",
		"messages.source":                "Source",
		"messages.source.recorded":       "as recorded by this application",
		"messages.source.engine":         "from the engines' stores",
		"messages.nomessagesforcontract": "No message for this contract.",
	},
	langPT: {
		"app.title":         "Central de e-mail",
		"nav.mailboxes":     "Caixas de E-mail",
		"nav.contracts":     "Contratos",
		"nav.workflow":      "Etapa de e-mail",
		"nav.messages":      "Mensagens",
		"nav.language":      "Idioma",
		"lang.en":           "English",
		"lang.pt-BR":        "Português (Brasil)",
		"common.save":       "Gravar",
		"common.cancel":     "Cancelar",
		"common.edit":       "Editar",
		"common.delete":     "Excluir",
		"common.none":       "—",
		"common.yes":        "sim",
		"common.no":         "não",
		"common.new":        "Nova",
		"common.actions":    "Ações",
		"common.required":   "obrigatório",
		"common.optional":   "opcional",
		"common.saved":      "Gravado.",
		"common.deleted":    "Excluído.",
		"common.errsummary": "Corrija o seguinte:",
		"common.error":      "Erro",
		"common.details":    "Detalhes técnicos",
		"common.notfound":   "Não encontrado.",

		"kind.inbound":  "Entrada",
		"kind.outbound": "Saída",
		"kind.unset":    "Não escolhido",

		"mailboxes.title":       "Caixas de E-mail",
		"mailboxes.intro":       "Caixas de entrada são lidas por IMAP; o que chega é arquivado no contrato dono da caixa. Caixas de saída enviam os e-mails do sistema por SMTP.",
		"mailboxes.empty":       "Nenhuma caixa de e-mail ainda.",
		"mailboxes.new":         "Nova Caixa de E-mail",
		"mailboxes.edit":        "Editar Caixa de E-mail",
		"mailboxes.description": "Descrição",
		"mailboxes.kind":        "Tipo",
		"mailboxes.address":     "Endereço de e-mail",
		"mailboxes.server":      "Servidor",
		"mailboxes.health":      "Situação",
		"mailboxes.enabled":     "Ativa",
		"mailboxes.system":      "Caixa do sistema",
		"mailboxes.makesystem":  "Usar como caixa do sistema",
		"mailboxes.contracts":   "Contratos",
		"mailboxes.isSystem":    "Esta é a caixa de saída do sistema.",

		"form.general":            "Geral",
		"form.inbound":            "Configuração de entrada (IMAP)",
		"form.inbound.hint":       "Usada somente quando o tipo é Entrada.",
		"form.outbound":           "Configuração de saída (SMTP)",
		"form.outbound.hint":      "Usada somente quando o tipo é Saída.",
		"form.host":               "Servidor",
		"form.port":               "Porta",
		"form.port.hint":          "Vazia: 993 (IMAP) ou 587 (SMTP).",
		"form.security":           "Segurança",
		"form.security.default":   "Automática",
		"form.security.tls":       "TLS",
		"form.security.starttls":  "STARTTLS",
		"form.security.plaintext": "Nenhuma (texto puro)",
		"form.allowPlaintext":     "Aceito enviar a senha sem criptografia",
		"form.username":           "Usuário",
		"form.password":           "Senha",
		"form.password.keep":      "Deixe vazia para manter a senha gravada.",
		"form.password.never":     "Nunca mais exibida depois de gravada; guardada criptografada.",
		"form.password.again":     "Por segurança a senha não fica na página: digite-a novamente.",
		"form.folder":             "Pasta",
		"form.postAction":         "Depois de ler",
		"form.post.seen":          "Marcar como lida",
		"form.post.move":          "Mover para a pasta",
		"form.post.delete":        "Excluir",
		"form.post.keep":          "Não alterar",
		"form.moveTo":             "Pasta de destino",
		"form.fromName":           "Nome do remetente",
		"form.fromAddress":        "Endereço do remetente",
		"form.replyTo":            "Responder para (Reply-To)",
		"form.maxConnections":     "Máximo de conexões",
		"form.enabled":            "Ativa",
		"form.test":               "Testar conexão",
		"form.test.ok":            "Teste de conexão bem-sucedido.",
		"form.test.failed":        "O teste de conexão falhou.",
		"form.test.unavailable":   "O teste de conexão não está disponível nesta versão.",
		"form.hint":               "O que fazer",

		"err.required":      "Campo obrigatório.",
		"err.out_of_range":  "Valor fora do intervalo permitido.",
		"err.bad_address":   "Endereço de e-mail inválido (usuario@exemplo.com.br).",
		"err.insecure":      "Sem criptografia a senha trafega aberta: marque o aceite ou escolha TLS.",
		"err.not_allowed":   "Não permitido para este tipo de caixa.",
		"err.conflict":      "Esta opção conflita com outra.",
		"err.unsupported":   "Opção não suportada.",
		"err.control_chars": "Quebras de linha e caracteres de controle não são permitidos.",
		"err.invalid":       "Valor inválido.",
		"err.number":        "Informe um número inteiro.",
		"err.store":         "Não foi possível gravar: %s",

		"rule.contract.not_found":   "Esta caixa de e-mail não está cadastrada.",
		"rule.contract.wrong_kind":  "Esta caixa de e-mail é do tipo errado.",
		"rule.contract.taken":       "Esta caixa de entrada já pertence a outro contrato (%s).",
		"rule.contract.in_use":      "Esta caixa ainda é usada pelo contrato %s.",
		"rule.contract.in_use_sys":  "Esta é a caixa do sistema.",
		"rule.contract.kind_change": "O tipo não pode mudar enquanto a caixa é usada (%s).",
		"rule.contract.invalid":     "Valor inválido.",
		"rule.contract.no_contract": "Contrato não encontrado.",

		"health.unknown":    "—",
		"health.ok":         "OK",
		"health.idle":       "Ociosa",
		"health.waiting":    "Conectada",
		"health.fetching":   "Lendo",
		"health.connecting": "Conectando",
		"health.starting":   "Iniciando",
		"health.retrying":   "Tentando de novo",
		"health.failing":    "Falhando",
		"health.down":       "Fora do ar",
		"health.paused":     "Pausada",
		"health.disabled":   "Desativada",
		"health.stopped":    "Parada",
		"health.queue":      "%d na fila",

		"contracts.title":        "Contratos",
		"contracts.intro":        "Um contrato envia seus e-mails pela sua caixa de saída e é dono das caixas de entrada para onde seus clientes escrevem.",
		"contracts.empty":        "Nenhum contrato ainda.",
		"contracts.new":          "Novo contrato",
		"contracts.edit":         "Editar contrato",
		"contracts.name":         "Nome",
		"contracts.outbound":     "Caixa de saída",
		"contracts.outbound.sys": "Nenhuma (usa a caixa do sistema)",
		"contracts.inbound":      "Caixas de entrada",
		"contracts.inbound.none": "Nenhuma caixa de entrada livre. Cadastre uma em Caixas de E-mail.",
		"contracts.inbound.hint": "Só aparecem as caixas de entrada que não pertencem a outro contrato.",
		"contracts.nooutbound":   "Nenhuma caixa de saída cadastrada ainda.",

		"wf.title":             "Etapa de e-mail",
		"wf.intro":             "A etapa de fluxo “enviar mensagem por e-mail”: escolha por qual caixa ela sai, quem recebe e o que diz; depois envie um teste para ver qual caixa o resolvedor escolhe e por quê.",
		"wf.step":              "Etapa",
		"wf.name":              "Nome da etapa",
		"wf.mailbox":           "Caixa de E-mail",
		"wf.choice.system":     "Sistema",
		"wf.choice.system.h":   "A caixa de saída do sistema.",
		"wf.choice.contract":   "Contrato",
		"wf.choice.contract.h": "A caixa de saída do contrato da solicitação (a do sistema quando ele não tem).",
		"wf.choice.specific":   "Específica",
		"wf.choice.specific.h": "A caixa escolhida abaixo.",
		"wf.specific":          "Caixa específica",
		"wf.recipients":        "Destinatários",
		"wf.users":             "Usuários",
		"wf.groups":            "Grupos",
		"wf.addresses":         "Outros endereços",
		"wf.addresses.hint":    "Um por linha.",
		"wf.delivery":          "Envio",
		"wf.delivery.each":     "Uma mensagem por destinatário",
		"wf.delivery.bcc":      "Uma mensagem, os demais em Cco",
		"wf.templates":         "Mensagem",
		"wf.subject":           "Modelo do assunto",
		"wf.text":              "Modelo do corpo (texto)",
		"wf.vars":              "Variáveis: {{.Request}}, {{.Title}}, {{.Requester}}, {{.Contract}}, {{.Sender}}.",
		"wf.preset":            "Começar de uma mensagem pronta",
		"wf.preset.load":       "Carregar",
		"wf.preset.opened":     "Solicitação aberta",
		"wf.preset.approval":   "Aprovação solicitada",
		"wf.preset.completed":  "Solicitação concluída",
		"wf.flow":              "Solicitação de teste",
		"wf.contract":          "Contrato da solicitação",
		"wf.contract.none":     "Sem contrato",
		"wf.request":           "Número da solicitação",
		"wf.requestTitle":      "Título da solicitação",
		"wf.send":              "Enviar teste",
		"wf.result":            "Resultado",
		"wf.decision":          "Caixa escolhida",
		"wf.rule":              "Regra",
		"wf.reason":            "Por quê",
		"wf.to":                "Destinatários",
		"wf.noaddress":         "Usuários sem endereço (ignorados)",
		"wf.invalid":           "Endereços inválidos (ignorados)",
		"wf.rendered":          "Assunto enviado",
		"wf.ids":               "Mensagens na fila",
		"wf.recorded":          "Registrado (sem motor de saída nesta versão: nada foi enviado).",
		"wf.failed":            "A etapa não pôde ser executada.",

		"rule.specific":                  "Específica: a etapa indica a caixa %s.",
		"rule.contract":                  "Contrato: %s é a caixa de saída do contrato %s.",
		"rule.system_no_contract":        "Sistema: a etapa pede a caixa do contrato, mas a solicitação não tem contrato; usa a caixa do sistema %s.",
		"rule.system_contract_has_none":  "Sistema: o contrato %s não tem caixa de saída; usa a caixa do sistema %s.",
		"rule.system":                    "Sistema: a caixa do sistema %s.",
		"rule.failover":                  "Contingência: a caixa do contrato está fora do ar; usa a caixa do sistema %s.",
		"resolve.no_system":              "Nenhuma caixa do sistema definida. Escolha uma em Caixas de E-mail.",
		"resolve.not_found":              "A caixa de e-mail não existe.",
		"resolve.not_outbound":           "A caixa de e-mail não é de saída.",
		"resolve.disabled":               "A caixa de e-mail está desativada.",
		"resolve.contract_not_found":     "O contrato não existe.",
		"resolve.bad_choice":             "Escolha de caixa desconhecida.",
		"resolve.no_recipients":          "Nenhum destinatário tem endereço de e-mail.",
		"resolve.template":               "O modelo %s é inválido: %s",
		"resolve.header":                 "Uma quebra de linha chegaria a um cabeçalho do e-mail.",
		"resolve.other":                  "A etapa falhou: %s",
		"wf.specific.none":               "— escolha —",
		"messages.title":                 "Mensagens",
		"messages.intro":                 "E-mails enviados e recebidos, agrupados por contrato, e as mensagens postas em quarentena com o motivo.",
		"messages.nocontract":            "Sem contrato",
		"messages.sent":                  "Enviadas",
		"messages.received":              "Recebidas",
		"messages.quarantine":            "Quarentena",
		"messages.empty":                 "Nada ainda.",
		"messages.when":                  "Quando",
		"messages.mailbox":               "Caixa",
		"messages.to":                    "Para",
		"messages.from":                  "De",
		"messages.subject":               "Assunto",
		"messages.state":                 "Situação",
		"messages.reason":                "Motivo",
		"messages.messageid":             "Message-ID",
		"messages.thread":                "Solicitação",
		"messages.state.recorded":        "registrada",
		"messages.state.queued":          "na fila",
		"messages.state.sent":            "enviada",
		"messages.state.dead":            "falhou",
		"messages.quarantine.empty":      "Nenhuma mensagem em quarentena.",
		"messages.quarantine.size":       "Tamanho",
		"messages.quarantine.key":        "Chave",
		"messages.source":                "Origem",
		"messages.source.recorded":       "conforme registrado por esta aplicação",
		"messages.source.engine":         "dos armazenamentos dos motores",
		"messages.nomessagesforcontract": "Nenhuma mensagem para este contrato.",
	},
}
