package mail

import (
	"strconv"
	"strings"
	"time"
)

// Notification digests (README "Notifications"): one mail per account and
// kind (and per project for devices) listing its items.

// Notification kinds, as the settings name them.
const (
	KindEndUserExpiry = "enduser_expiry"
	KindDeviceOffline = "device_offline"
	KindOrderResult   = "order_result"
	KindRolloutPaused = "rollout_paused"
)

// NotifyItem is one line of a digest.
type NotifyItem struct {
	Event     string    // enduser_expiry: 30d, 7d, 1d, expired; devices: offline, online; orders: completed, failed; rollouts: paused
	Name      string    // the end user, the device, the order number, the rollout
	Project   string    // its project
	Installer string    // its installer (shown to a sub-distributor)
	Service   string    // app or premium
	MAC       string    // a device's MAC
	Detail    string    // an order's amount, a pause's reason
	At        time.Time // the expiry, the time offline or back, the order's or the pause's time
}

// NotifyDigest is the data of one digest mail.
type NotifyDigest struct {
	Name     string       // how to greet the recipient
	Kind     string       // one of the Kind constants
	Project  string       // the project of a device digest
	Items    []NotifyItem // the first items
	More     int          // items beyond Items
	Link     string       // the portal's list of them
	Settings string       // the Setting → Notification page
}

// notifyLabels are the words of the lines, per language.
var notifyLabels = map[string]map[string]string{
	"en": {"30d": "expires in 30 days", "7d": "expires in 7 days", "1d": "expires in 1 day", "expired": "expired",
		"offline": "offline since", "online": "back online at", "completed": "completed", "failed": "failed", "paused": "paused at",
		"app": "App", "premium": "Premium", "more": "… and {n} more."},
	"zh-CN": {"30d": "30 天后到期", "7d": "7 天后到期", "1d": "1 天后到期", "expired": "已到期",
		"offline": "离线自", "online": "恢复在线于", "completed": "已完成", "failed": "失败", "paused": "暂停于",
		"app": "App", "premium": "高级版", "more": "……以及另外 {n} 项。"},
	"es": {"30d": "vence en 30 días", "7d": "vence en 7 días", "1d": "vence en 1 día", "expired": "vencido",
		"offline": "sin conexión desde", "online": "de nuevo en línea a las", "completed": "completado", "failed": "fallido",
		"paused": "en pausa desde", "app": "App", "premium": "Premium", "more": "… y {n} más."},
	"de": {"30d": "läuft in 30 Tagen ab", "7d": "läuft in 7 Tagen ab", "1d": "läuft in 1 Tag ab", "expired": "abgelaufen",
		"offline": "offline seit", "online": "wieder online um", "completed": "abgeschlossen", "failed": "fehlgeschlagen",
		"paused": "angehalten um", "app": "App", "premium": "Premium", "more": "… und {n} weitere."},
	"fr": {"30d": "expire dans 30 jours", "7d": "expire dans 7 jours", "1d": "expire dans 1 jour", "expired": "expiré",
		"offline": "hors ligne depuis", "online": "de nouveau en ligne à", "completed": "terminée", "failed": "échouée",
		"paused": "en pause depuis", "app": "App", "premium": "Premium", "more": "… et {n} de plus."},
	"ru": {"30d": "истекает через 30 дней", "7d": "истекает через 7 дней", "1d": "истекает через 1 день", "expired": "истёк",
		"offline": "не в сети с", "online": "снова в сети с", "completed": "выполнен", "failed": "не выполнен",
		"paused": "приостановлен в", "app": "App", "premium": "Premium", "more": "… и ещё {n}."},
}

// notifyMails are the digests' texts per kind and language. {lines} is the
// list, {more} the "and N more" line (or nothing).
var notifyMails = map[string]map[string]template{
	KindEndUserExpiry: {
		"en": {"Gatehouse: {count} end user service(s) expiring or expired",
			"Hello {name},\n\nThese end users' services expire soon or have expired:\n\n{lines}{more}\nRenew them here:\n{link}\n\n{footer}"},
		"zh-CN": {"Gatehouse：{count} 项终端用户服务即将到期或已到期",
			"{name}，您好：\n\n以下终端用户的服务即将到期或已经到期：\n\n{lines}{more}\n请在此续费：\n{link}\n\n{footer}"},
		"es": {"Gatehouse: {count} servicio(s) de usuarios finales vencen o han vencido",
			"Hola, {name}:\n\nLos servicios de estos usuarios finales vencen pronto o ya han vencido:\n\n{lines}{more}\nRenuévelos aquí:\n{link}\n\n{footer}"},
		"de": {"Gatehouse: {count} Endbenutzer-Dienst(e) laufen ab oder sind abgelaufen",
			"Hallo {name},\n\ndie Dienste dieser Endbenutzer laufen bald ab oder sind abgelaufen:\n\n{lines}{more}\nHier verlängern:\n{link}\n\n{footer}"},
		"fr": {"Gatehouse : {count} service(s) d'utilisateurs finaux expirent ou ont expiré",
			"Bonjour {name},\n\nLes services de ces utilisateurs finaux expirent bientôt ou ont expiré :\n\n{lines}{more}\nRenouvelez-les ici :\n{link}\n\n{footer}"},
		"ru": {"Gatehouse: у {count} услуг(и) конечных пользователей истекает или истёк срок",
			"Здравствуйте, {name}!\n\nСрок услуг этих конечных пользователей скоро истекает или уже истёк:\n\n{lines}{more}\nПродлить можно здесь:\n{link}\n\n{footer}"},
	},
	KindDeviceOffline: {
		"en": {"Gatehouse: {count} device event(s) in {project}",
			"Hello {name},\n\nDevices of {project} went offline or came back:\n\n{lines}{more}\nSee the devices:\n{link}\n\n{footer}"},
		"zh-CN": {"Gatehouse：{project} 有 {count} 条设备事件",
			"{name}，您好：\n\n{project} 的设备离线或恢复在线：\n\n{lines}{more}\n查看设备：\n{link}\n\n{footer}"},
		"es": {"Gatehouse: {count} evento(s) de dispositivos en {project}",
			"Hola, {name}:\n\nDispositivos de {project} se desconectaron o volvieron:\n\n{lines}{more}\nVer los dispositivos:\n{link}\n\n{footer}"},
		"de": {"Gatehouse: {count} Geräteereignis(se) in {project}",
			"Hallo {name},\n\nGeräte von {project} sind offline gegangen oder zurück:\n\n{lines}{more}\nZu den Geräten:\n{link}\n\n{footer}"},
		"fr": {"Gatehouse : {count} événement(s) d'appareils dans {project}",
			"Bonjour {name},\n\nDes appareils de {project} sont passés hors ligne ou sont revenus :\n\n{lines}{more}\nVoir les appareils :\n{link}\n\n{footer}"},
		"ru": {"Gatehouse: {count} событие(й) устройств в {project}",
			"Здравствуйте, {name}!\n\nУстройства {project} отключились или снова в сети:\n\n{lines}{more}\nУстройства:\n{link}\n\n{footer}"},
	},
	KindOrderResult: {
		"en": {"Gatehouse: {count} order(s) completed or failed",
			"Hello {name},\n\nYour orders have a result:\n\n{lines}{more}\nSee your payments:\n{link}\n\n{footer}"},
		"zh-CN": {"Gatehouse：{count} 个订单已完成或失败",
			"{name}，您好：\n\n您的订单有了结果：\n\n{lines}{more}\n查看付款记录：\n{link}\n\n{footer}"},
		"es": {"Gatehouse: {count} pedido(s) completados o fallidos",
			"Hola, {name}:\n\nSus pedidos tienen un resultado:\n\n{lines}{more}\nVer sus pagos:\n{link}\n\n{footer}"},
		"de": {"Gatehouse: {count} Bestellung(en) abgeschlossen oder fehlgeschlagen",
			"Hallo {name},\n\nIhre Bestellungen haben ein Ergebnis:\n\n{lines}{more}\nZu Ihren Zahlungen:\n{link}\n\n{footer}"},
		"fr": {"Gatehouse : {count} commande(s) terminée(s) ou échouée(s)",
			"Bonjour {name},\n\nVos commandes ont un résultat :\n\n{lines}{more}\nVoir vos paiements :\n{link}\n\n{footer}"},
		"ru": {"Gatehouse: {count} заказ(ов) выполнен(о) или не выполнен(о)",
			"Здравствуйте, {name}!\n\nПо вашим заказам есть результат:\n\n{lines}{more}\nВаши платежи:\n{link}\n\n{footer}"},
	},
	KindRolloutPaused: {
		"en": {"Gatehouse: {count} firmware rollout(s) paused",
			"Hello {name},\n\nThese firmware rollouts were paused:\n\n{lines}{more}\nSee the rollouts:\n{link}\n\n{footer}"},
		"zh-CN": {"Gatehouse：{count} 个固件升级任务已暂停",
			"{name}，您好：\n\n以下固件升级任务已暂停：\n\n{lines}{more}\n查看升级任务：\n{link}\n\n{footer}"},
		"es": {"Gatehouse: {count} despliegue(s) de firmware en pausa",
			"Hola, {name}:\n\nEstos despliegues de firmware se pusieron en pausa:\n\n{lines}{more}\nVer los despliegues:\n{link}\n\n{footer}"},
		"de": {"Gatehouse: {count} Firmware-Rollout(s) angehalten",
			"Hallo {name},\n\ndiese Firmware-Rollouts wurden angehalten:\n\n{lines}{more}\nZu den Rollouts:\n{link}\n\n{footer}"},
		"fr": {"Gatehouse : {count} déploiement(s) de firmware en pause",
			"Bonjour {name},\n\nCes déploiements de firmware ont été mis en pause :\n\n{lines}{more}\nVoir les déploiements :\n{link}\n\n{footer}"},
		"ru": {"Gatehouse: {count} развёртывание(й) прошивки приостановлено",
			"Здравствуйте, {name}!\n\nЭти развёртывания прошивки приостановлены:\n\n{lines}{more}\nРазвёртывания:\n{link}\n\n{footer}"},
	},
}

// notifyFooters say where the mails are switched off.
var notifyFooters = map[string]string{
	"en":    "You get this mail because this notification is on for your account. Turn it off under Setting → Notification: {settings}",
	"zh-CN": "您收到此邮件是因为您的账号开启了此通知。可在 设置 → 通知 中关闭：{settings}",
	"es":    "Recibe este correo porque esta notificación está activada en su cuenta. Desactívela en Ajustes → Notificación: {settings}",
	"de":    "Sie erhalten diese E-Mail, weil diese Benachrichtigung für Ihr Konto eingeschaltet ist. Abschalten unter Einstellungen → Benachrichtigung: {settings}",
	"fr":    "Vous recevez ce message car cette notification est activée pour votre compte. Désactivez-la dans Paramètres → Notification : {settings}",
	"ru":    "Вы получили это письмо, потому что это уведомление включено для вашей учётной записи. Отключить: Настройки → Уведомления: {settings}",
}

// NotificationDigest is the digest mail d in lang. The caller sets To.
func NotificationDigest(lang string, d NotifyDigest) Message {
	lang = resolve(lang)
	labels := notifyLabels[lang]
	var lines strings.Builder
	for _, it := range d.Items {
		lines.WriteString("- ")
		lines.WriteString(oneLine(notifyItemLine(labels, it)))
		lines.WriteByte('\n')
	}
	more := ""
	if d.More > 0 {
		more = strings.ReplaceAll(labels["more"], "{n}", strconv.Itoa(d.More)) + "\n"
	}
	set := notifyMails[d.Kind]
	if set == nil {
		set = notifyMails[KindOrderResult]
	}
	footer := strings.ReplaceAll(notifyFooters[lang], "{settings}", d.Settings)
	project := d.Project
	if project == "" {
		project = "-"
	}
	return render(set, lang, "{name}", d.Name, "{count}", strconv.Itoa(len(d.Items)+d.More), "{project}", oneLine(project),
		"{lines}", lines.String(), "{more}", more, "{link}", d.Link, "{footer}", footer)
}

func notifyItemLine(labels map[string]string, it NotifyItem) string {
	label := labels[it.Event]
	if label == "" {
		label = it.Event
	}
	at := it.At.UTC().Format(stamp) + " UTC"
	switch it.Event {
	case "30d", "7d", "1d", "expired":
		at = it.At.UTC().Format("2006-01-02")
		where := it.Project
		if it.Installer != "" {
			where += ", " + it.Installer
		}
		return it.Name + " (" + where + ") — " + labels[it.Service] + ": " + label + " (" + at + ")"
	case "offline", "online":
		return it.Name + " " + it.MAC + ": " + label + " " + at
	case "completed", "failed":
		s := it.Name + " (" + it.Project + ", " + it.Detail + "): " + label + " " + at
		return s
	default:
		s := it.Name + ": " + label + " " + at
		if it.Detail != "" {
			s += " — " + it.Detail
		}
		return s
	}
}
