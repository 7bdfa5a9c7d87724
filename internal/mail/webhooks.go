package mail

import "time"

// WebhookDisabledMail is the data of the mail an account gets when
// Gatehouse turned one of its webhook endpoints off after a day of failed
// deliveries.
type WebhookDisabledMail struct {
	Account string    // the login name
	Name    string    // how to greet the recipient
	URL     string    // the endpoint
	Since   time.Time // the first failure of the run
	Link    string    // the portal's webhooks page
}

// WebhookDisabled is that mail, in lang.
func WebhookDisabled(lang string, d WebhookDisabledMail) Message {
	name := d.Name
	if name == "" {
		name = d.Account
	}
	return render(webhookDisabledMails, lang, "{name}", name, "{account}", d.Account, "{url}", oneLine(d.URL),
		"{since}", d.Since.UTC().Format(stamp), "{link}", d.Link)
}

var webhookDisabledMails = map[string]template{
	"en": {"Webhook endpoint turned off for {account}",
		"Hello {name},\n\nEvery delivery to your webhook endpoint\n{url}\nhas failed since {since} UTC, so Gatehouse turned it off " +
			"and sends it nothing more.\n\nCheck the endpoint, then turn it on again and redeliver what it missed on the Webhooks page:\n{link}\n"},
	"zh-CN": {"{account} 的 Webhook 端点已被停用",
		"{name}，您好：\n\n自 UTC 时间 {since} 起，发往您的 Webhook 端点\n{url}\n的每次投递均失败，因此 Gatehouse 已停用该端点，不再向其发送事件。\n\n" +
			"请检查该端点，然后在 Webhooks 页面重新启用它并重新投递遗漏的事件：\n{link}\n"},
	"es": {"Endpoint de webhook desactivado para {account}",
		"Hola, {name}:\n\nTodas las entregas a su endpoint de webhook\n{url}\nhan fallado desde el {since} UTC, por lo que Gatehouse lo ha " +
			"desactivado y no le enviará nada más.\n\nRevise el endpoint y vuelva a activarlo y reenviar lo que no recibió en la página Webhooks:\n{link}\n"},
	"de": {"Webhook-Endpunkt für {account} abgeschaltet",
		"Hallo {name},\n\njede Zustellung an Ihren Webhook-Endpunkt\n{url}\nist seit {since} UTC fehlgeschlagen. Gatehouse hat ihn deshalb " +
			"abgeschaltet und sendet ihm nichts mehr.\n\nPrüfen Sie den Endpunkt, schalten Sie ihn auf der Seite „Webhooks“ wieder ein und stellen Sie Verpasstes erneut zu:\n{link}\n"},
	"fr": {"Point de terminaison webhook désactivé pour {account}",
		"Bonjour {name},\n\nToutes les livraisons vers votre point de terminaison webhook\n{url}\néchouent depuis le {since} UTC : " +
			"Gatehouse l’a donc désactivé et ne lui envoie plus rien.\n\nVérifiez-le, puis réactivez-le et relivrez ce qu’il a manqué sur la page Webhooks :\n{link}\n"},
	"ru": {"Webhook-адрес аккаунта {account} отключён",
		"Здравствуйте, {name}!\n\nВсе доставки на ваш webhook-адрес\n{url}\nзавершаются ошибкой с {since} UTC, поэтому Gatehouse отключил его " +
			"и больше ничего туда не отправляет.\n\nПроверьте адрес, затем включите его снова и повторите пропущенные доставки на странице Webhooks:\n{link}\n"},
}
