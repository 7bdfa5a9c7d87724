package mail

import (
	"strings"
	"time"
)

// LinkMail is the data of a mail that carries a single-use link.
type LinkMail struct {
	Account string    // the login name
	Name    string    // how to greet the recipient
	From    string    // the sender organisation (the sub-distributor)
	Link    string    // the single-use link
	Expires time.Time // when the link stops working
}

// FeedbackMail is the data of an installer's feedback, mailed to the
// address its sub-distributor set in the Setting module.
type FeedbackMail struct {
	Installer string    // the installer's account name
	Name      string    // the installer's name or company
	Email     string    // where a reply goes (the message's Reply-To)
	Subject   string    // the installer's subject
	Message   string    // the installer's text
	Sent      time.Time // when it was sent
	Link      string    // the Setting module, where all feedback is listed
}

// template is one mail in one language. Placeholders in braces are
// replaced in one pass, so text supplied by users is never expanded.
type template struct{ subject, body string }

// DefaultLanguage is used for a language without translations.
const DefaultLanguage = "en"

// Languages lists the languages every mail is written in.
func Languages() []string { return []string{"en", "zh-CN", "es", "de", "fr", "ru"} }

// resolve maps a language tag to one we have: exact, case-insensitive,
// then by its base language ("de-AT" → de, "zh" / "zh-Hans" → zh-CN),
// else English.
func resolve(lang string) string {
	lang = strings.TrimSpace(strings.ReplaceAll(lang, "_", "-"))
	for _, l := range Languages() {
		if strings.EqualFold(l, lang) {
			return l
		}
	}
	base, _, _ := strings.Cut(strings.ToLower(lang), "-")
	for _, l := range Languages() {
		if b, _, _ := strings.Cut(strings.ToLower(l), "-"); b == base {
			return l
		}
	}
	return DefaultLanguage
}

func render(set map[string]template, lang string, vars ...string) Message {
	t, ok := set[resolve(lang)]
	if !ok {
		t = set[DefaultLanguage]
	}
	r := strings.NewReplacer(vars...)
	return Message{Subject: r.Replace(t.subject), Text: r.Replace(t.body)}
}

const stamp = "2006-01-02 15:04"

func linkVars(d LinkMail) []string {
	name, from := d.Name, d.From
	if name == "" {
		name = d.Account
	}
	if from == "" {
		from = "Gatehouse"
	}
	return []string{"{name}", name, "{from}", from, "{account}", d.Account, "{link}", d.Link,
		"{expires}", d.Expires.UTC().Format(stamp)}
}

// InstallerWelcome is the mail a new installer gets: its account name and a
// link to set its password, in lang.
func InstallerWelcome(lang string, d LinkMail) Message {
	return render(welcomeMails, lang, linkVars(d)...)
}

// PasswordReset is the mail with a new single-use link to set a password.
func PasswordReset(lang string, d LinkMail) Message {
	return render(resetMails, lang, linkVars(d)...)
}

// Feedback is the mail that brings an installer's feedback to its
// sub-distributor, in lang; replies go to the installer. The caller sets To.
func Feedback(lang string, d FeedbackMail) Message {
	who := d.Installer
	if d.Name != "" && d.Name != d.Installer {
		who += " (" + d.Name + ")"
	}
	email := d.Email
	if email == "" {
		email = "-"
	}
	m := render(feedbackMails, lang, "{installer}", d.Installer, "{who}", who, "{email}", email,
		"{subject}", oneLine(d.Subject), "{message}", strings.ReplaceAll(d.Message, "\r\n", "\n"),
		"{sent}", d.Sent.UTC().Format(stamp), "{link}", d.Link)
	m.ReplyTo = d.Email
	return m
}

var welcomeMails = map[string]template{
	"en": {"Your Gatehouse installer account {account}",
		"Hello {name},\n\n{from} has created a Gatehouse installer account for you.\n\nAccount: {account}\n\n" +
			"Set your password here (the link works once, until {expires} UTC):\n{link}\n"},
	"zh-CN": {"您的 Gatehouse 安装商账号 {account}",
		"{name}，您好：\n\n{from} 已为您创建 Gatehouse 安装商账号。\n\n账号：{account}\n\n" +
			"请通过以下链接设置密码（链接仅可使用一次，有效期至 UTC 时间 {expires}）：\n{link}\n"},
	"es": {"Su cuenta de instalador de Gatehouse {account}",
		"Hola, {name}:\n\n{from} ha creado para usted una cuenta de instalador de Gatehouse.\n\nCuenta: {account}\n\n" +
			"Establezca su contraseña aquí (el enlace solo funciona una vez, hasta el {expires} UTC):\n{link}\n"},
	"de": {"Ihr Gatehouse-Installateurkonto {account}",
		"Hallo {name},\n\n{from} hat für Sie ein Gatehouse-Installateurkonto angelegt.\n\nKonto: {account}\n\n" +
			"Legen Sie hier Ihr Passwort fest (der Link funktioniert einmal, bis {expires} UTC):\n{link}\n"},
	"fr": {"Votre compte installateur Gatehouse {account}",
		"Bonjour {name},\n\n{from} a créé pour vous un compte installateur Gatehouse.\n\nCompte : {account}\n\n" +
			"Définissez votre mot de passe ici (le lien ne fonctionne qu’une fois, jusqu’au {expires} UTC) :\n{link}\n"},
	"ru": {"Ваш аккаунт монтажника Gatehouse {account}",
		"Здравствуйте, {name}!\n\nДля вас создан аккаунт монтажника в Gatehouse (от имени: {from}).\n\nАккаунт: {account}\n\n" +
			"Задайте пароль по ссылке (она действует один раз, до {expires} UTC):\n{link}\n"},
}

var resetMails = map[string]template{
	"en": {"Set a new Gatehouse password for {account}",
		"Hello {name},\n\nA new password was requested for your Gatehouse account {account}.\n\n" +
			"Set it here (the link works once, until {expires} UTC):\n{link}\n\nIf you did not expect this, contact {from}.\n"},
	"zh-CN": {"为 {account} 设置新的 Gatehouse 密码",
		"{name}，您好：\n\n有人为您的 Gatehouse 账号 {account} 申请了新密码。\n\n" +
			"请通过以下链接设置（链接仅可使用一次，有效期至 UTC 时间 {expires}）：\n{link}\n\n如果这不是您预期的操作，请联系 {from}。\n"},
	"es": {"Establezca una nueva contraseña de Gatehouse para {account}",
		"Hola, {name}:\n\nSe ha solicitado una nueva contraseña para su cuenta de Gatehouse {account}.\n\n" +
			"Establézcala aquí (el enlace solo funciona una vez, hasta el {expires} UTC):\n{link}\n\nSi no esperaba este mensaje, póngase en contacto con {from}.\n"},
	"de": {"Neues Gatehouse-Passwort für {account} festlegen",
		"Hallo {name},\n\nfür Ihr Gatehouse-Konto {account} wurde ein neues Passwort angefordert.\n\n" +
			"Legen Sie es hier fest (der Link funktioniert einmal, bis {expires} UTC):\n{link}\n\nFalls Sie das nicht erwartet haben, wenden Sie sich an {from}.\n"},
	"fr": {"Définissez un nouveau mot de passe Gatehouse pour {account}",
		"Bonjour {name},\n\nUn nouveau mot de passe a été demandé pour votre compte Gatehouse {account}.\n\n" +
			"Définissez-le ici (le lien ne fonctionne qu’une fois, jusqu’au {expires} UTC) :\n{link}\n\nSi vous n’êtes pas à l’origine de cette demande, contactez {from}.\n"},
	"ru": {"Задайте новый пароль Gatehouse для {account}",
		"Здравствуйте, {name}!\n\nДля вашего аккаунта Gatehouse {account} запрошен новый пароль.\n\n" +
			"Задайте его по ссылке (она действует один раз, до {expires} UTC):\n{link}\n\nЕсли вы этого не ожидали, свяжитесь с поставщиком: {from}.\n"},
}

var feedbackMails = map[string]template{
	"en": {"Feedback from installer {installer}: {subject}",
		"An installer sent feedback through Gatehouse.\n\nInstaller: {who}\nContact email: {email}\nSent: {sent} UTC\nSubject: {subject}\n\n" +
			"{message}\n\n--\nReply to this email to answer the installer. All feedback is listed in the Setting module:\n{link}\n"},
	"zh-CN": {"安装商 {installer} 的反馈：{subject}",
		"一位安装商通过 Gatehouse 发送了反馈。\n\n安装商：{who}\n联系邮箱：{email}\n发送时间：{sent}（UTC）\n主题：{subject}\n\n" +
			"{message}\n\n--\n直接回复此邮件即可答复该安装商。所有反馈均列在“设置”模块中：\n{link}\n"},
	"es": {"Comentarios del instalador {installer}: {subject}",
		"Un instalador ha enviado comentarios a través de Gatehouse.\n\nInstalador: {who}\nCorreo de contacto: {email}\nEnviado: {sent} UTC\nAsunto: {subject}\n\n" +
			"{message}\n\n--\nResponda a este correo para contestar al instalador. Todos los comentarios aparecen en el módulo Configuración:\n{link}\n"},
	"de": {"Feedback von Installateur {installer}: {subject}",
		"Ein Installateur hat über Gatehouse Feedback gesendet.\n\nInstallateur: {who}\nKontakt-E-Mail: {email}\nGesendet: {sent} UTC\nBetreff: {subject}\n\n" +
			"{message}\n\n--\nAntworten Sie auf diese E-Mail, um dem Installateur zu antworten. Alle Rückmeldungen finden Sie im Modul „Einstellungen“:\n{link}\n"},
	"fr": {"Retour de l’installateur {installer} : {subject}",
		"Un installateur a envoyé un retour via Gatehouse.\n\nInstallateur : {who}\nE-mail de contact : {email}\nEnvoyé le : {sent} UTC\nObjet : {subject}\n\n" +
			"{message}\n\n--\nRépondez à cet e-mail pour répondre à l’installateur. Tous les retours sont listés dans le module Paramètres :\n{link}\n"},
	"ru": {"Отзыв от монтажника {installer}: {subject}",
		"Через Gatehouse получен отзыв от монтажника.\n\nМонтажник: {who}\nКонтактный email: {email}\nОтправлено: {sent} UTC\nТема: {subject}\n\n" +
			"{message}\n\n--\nЧтобы ответить монтажнику, ответьте на это письмо. Все отзывы собраны в модуле «Настройки»:\n{link}\n"},
}
