package demo

var (
	distributorNames  = []string{"Northwind Security Distribution", "Meridian Access Systems"}
	subNames          = []string{"Harbor Intercom Supply", "Alpine Door Systems", "Coastal Entry Solutions", "Summit Secure Access", "Riverside Comms", "Lakeshore Intercom Partners"}
	installerSuffixes = []string{"Installations", "Security", "Electric", "Smart Homes", "Access Ltd", "Integrations", "Technik", "& Sons"}
	firstNames        = []string{"Anna", "Ben", "Carla", "David", "Elena", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Keiko", "Liam", "Maria", "Noah", "Olivia", "Pavel", "Qing", "Rosa", "Samir", "Tara", "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Lucas", "Mia", "Omar", "Sofia", "Chen", "Aisha", "Mateo", "Hana", "Igor", "Lena"}
	lastNames         = []string{"Müller", "Smith", "García", "Rossi", "Novak", "Kowalski", "Chen", "Tanaka", "Dubois", "Jensen", "Silva", "Ivanova", "Okafor", "Haddad", "Larsen", "Moreau", "Schmidt", "Nguyen", "Petrov", "Fischer", "Costa", "Bianchi", "Wagner", "Lindqvist"}
	placeNames        = []string{"Oak", "Maple", "Harbor", "Sunrise", "Cedar", "Riverside", "Hillcrest", "Lakeview", "Willow", "Parkside", "Greenfield", "Bayview", "Rosewood", "Stonebridge", "Elm", "Meadow"}
	communitySuffixes = []string{"Gardens", "Residences", "Court", "Heights", "Park", "Towers", "Village", "Commons"}
	officeSuffixes    = []string{"Business Center", "Tower Offices", "Tech Campus", "Office Park", "House"}
	streetKinds       = []string{"Street", "Avenue", "Road", "Lane", "Boulevard"}
	cities            = []string{"Berlin", "Madrid", "Lyon", "Warsaw", "Milan", "Vienna", "Porto", "Oslo", "Xiamen", "Austin", "Toronto", "Dubai"}
	departmentNames   = []string{"Reception", "Sales", "Engineering", "Finance", "Operations", "Support"}
	timeZones         = []string{"Europe/Berlin", "Europe/Madrid", "Europe/Paris", "Europe/Warsaw", "Europe/Rome", "Asia/Shanghai", "America/New_York", "America/Toronto", "Asia/Dubai", "UTC"}
	changeLogs        = []string{
		"Fixed: door relay could stay open after a power cut.\nImproved: SIP registration over TLS.",
		"New: face recognition speed improved by 30%.\nFixed: time zone not applied after AutoP.",
		"Security: updated TLS libraries.\nFixed: web UI login lockout counter.",
		"New: RTP confusion support.\nImproved: echo cancellation on indoor monitors.",
		"Fixed: call log export.\nNew: batch AutoP acknowledgement.",
		"Maintenance release: stability fixes for long uptimes.",
	}
)
