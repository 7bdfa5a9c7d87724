package store

// The indexes queries name. SQLite plans without statistics, so the list
// queries tell it which index to read, with INDEXED BY (PostgreSQL plans
// from its statistics and gets no hints): at a million devices another
// plan is seconds instead of milliseconds. A query that names an index that
// is no longer there fails ("no such index"), and only when that list is
// asked for in that order. So every name a query uses is a constant here,
// and the hint is written by indexedBy only: TestQueryIndexesExist checks
// that each index of queryIndexes exists on its table in both engines'
// migrated schemas (PostgreSQL keeps the same names, so that the two trees
// stay comparable), and that no other file names an index in a string.
// Renaming or dropping one of these in a migration fails that test.
const (
	// A level's device list, newest first (migrations/*/00006_device_lists.sql).
	idxDevicesListAll  = "devices_list_all"
	idxDevicesListDist = "devices_list_dist"
	idxDevicesListSub  = "devices_list_sub"
	idxDevicesListInst = "devices_list_inst"
	// A level's devices by 7-day availability (00030_availability.sql).
	idxDevicesAvailAll  = "devices_avail_all"
	idxDevicesAvailDist = "devices_avail_dist"
	idxDevicesAvailSub  = "devices_avail_sub"
	idxDevicesAvailInst = "devices_avail_inst"
	// Devices by SIP and by MAC within a scope; a project's devices, newest
	// first.
	idxDevicesSIPScope       = "devices_sip_scope"
	idxDevicesMACScope       = "devices_mac_scope"
	idxDevicesProjectCreated = "devices_project_created"
	// Devices on one firmware version, of a kind, newest first, with the
	// scope columns: the device lists' firmware filter (00022).
	idxDevicesFirmware = "devices_firmware"
	// Projects of a kind by name and by manager; installers by the name
	// they show (00006; projects_kind_name since 00001).
	idxProjectsKindName    = "projects_kind_name"
	idxProjectsKindManager = "projects_kind_manager"
	idxAccountsDisplayName = "accounts_display_name"
	// A level's end-user list, newest first; end users by SIP within a
	// scope; an office's users newest first; the name and family master
	// words of the admin's (a distributor's) and a sub-distributor's scope
	// (migrations/*/00021_enduser_lists.sql).
	idxEndUsersListAll        = "end_users_list_all"
	idxEndUsersListDist       = "end_users_list_dist"
	idxEndUsersListSub        = "end_users_list_sub"
	idxEndUsersListInst       = "end_users_list_inst"
	idxEndUsersSIPScope       = "end_users_sip_scope"
	idxEndUsersProjectCreated = "end_users_project_created"
	idxEndUserWordsAll        = "end_user_words_all"
	idxEndUserWordsSub        = "end_user_words_sub"
	// A level's third-party device (camera) list (00007_camera_lists.sql).
	idxCamerasListAll  = "third_party_devices_list_all"
	idxCamerasListDist = "third_party_devices_list_dist"
	idxCamerasListSub  = "third_party_devices_list_sub"
	idxCamerasListInst = "third_party_devices_list_inst"
	// The notification scheduler's scans (00025_notifications.sql): end
	// users by each service's expiry, the devices' offline episodes due for
	// a look, orders completed or failed and rollouts paused by time, and
	// the ledger's rows due for delivery.
	idxEndUsersAppExpiry     = "end_users_app_expiry"
	idxEndUsersPremiumExpiry = "end_users_premium_expiry"
	idxDeviceOfflineCheck    = "device_offline_check"
	idxOrdersResult          = "orders_result"
	idxRolloutsPaused        = "rollouts_paused"
	idxNotificationsDue      = "notifications_due"
	// The failed commands and AutoP of the last day (00029_dashboard.sql).
	idxDeviceCommandsFailed = "device_commands_failed"
	// The device lists' filter by model, like the firmware index (00029).
	idxDevicesModelList = "devices_model_list"
	// The end-user lists' expiring filter: a level's users by kind and App
	// expiry, with the date order's columns (00029).
	idxEndUsersExpiryAll  = "end_users_expiry_all"
	idxEndUsersExpirySub  = "end_users_expiry_sub"
	idxEndUsersExpiryInst = "end_users_expiry_inst"
)

// queryIndexes are the indexes queries name, each with its table.
var queryIndexes = map[string]string{
	idxDevicesListAll:         "devices",
	idxDevicesListDist:        "devices",
	idxDevicesListSub:         "devices",
	idxDevicesListInst:        "devices",
	idxDevicesAvailAll:        "devices",
	idxDevicesAvailDist:       "devices",
	idxDevicesAvailSub:        "devices",
	idxDevicesAvailInst:       "devices",
	idxDevicesSIPScope:        "devices",
	idxDevicesMACScope:        "devices",
	idxDevicesProjectCreated:  "devices",
	idxDevicesFirmware:        "devices",
	idxProjectsKindName:       "projects",
	idxProjectsKindManager:    "projects",
	idxAccountsDisplayName:    "accounts",
	idxEndUsersListAll:        "end_users",
	idxEndUsersListDist:       "end_users",
	idxEndUsersListSub:        "end_users",
	idxEndUsersListInst:       "end_users",
	idxEndUsersSIPScope:       "end_users",
	idxEndUsersProjectCreated: "end_users",
	idxEndUserWordsAll:        "end_user_words",
	idxEndUserWordsSub:        "end_user_words",
	idxCamerasListAll:         "third_party_devices",
	idxCamerasListDist:        "third_party_devices",
	idxCamerasListSub:         "third_party_devices",
	idxCamerasListInst:        "third_party_devices",
	idxEndUsersAppExpiry:      "end_users",
	idxEndUsersPremiumExpiry:  "end_users",
	idxDeviceOfflineCheck:     "device_offline",
	idxOrdersResult:           "orders",
	idxRolloutsPaused:         "rollouts",
	idxNotificationsDue:       "notifications",
	idxDeviceCommandsFailed:   "device_commands",
	idxDevicesModelList:       "devices",
	idxEndUsersExpiryAll:      "end_users",
	idxEndUsersExpirySub:      "end_users",
	idxEndUsersExpiryInst:     "end_users",
}

// indexedBy is SQLite's hint to read index, one of the constants above,
// to follow a table in FROM.
func indexedBy(index string) string { return " INDEXED BY " + index }
