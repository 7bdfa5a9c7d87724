package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// installers write in their own portal; reads of the API are open to every
// signed-in account, since the store limits them to its subtree.
var installerOnly = []model.Role{model.RoleInstaller}

// routesInstallerPortal registers the API routes (with s.handleAPI) and portal pages of
// this module.
func (s *Server) routesInstallerPortal() {
	a, w := s.api, s.web

	// Projects, buildings, apartments, departments.
	s.handleAPI("GET /api/v1/projects", s.apiAuth(a.ListProjects))
	s.handleAPI("POST /api/v1/projects", s.apiAuth(a.CreateProject, installerOnly...))
	s.handleAPI("GET /api/v1/projects/{id}", s.apiAuth(a.GetProject))
	s.handleAPI("PATCH /api/v1/projects/{id}", s.apiAuth(a.UpdateProject, installerOnly...))
	s.handleAPI("DELETE /api/v1/projects/{id}", s.apiAuth(a.DeleteProject, installerOnly...))
	s.handleAPI("GET /api/v1/projects/{id}/buildings", s.apiAuth(a.ListBuildings))
	s.handleAPI("POST /api/v1/projects/{id}/buildings", s.apiAuth(a.CreateBuilding, installerOnly...))
	s.handleAPI("PATCH /api/v1/buildings/{id}", s.apiAuth(a.UpdateBuilding, installerOnly...))
	s.handleAPI("DELETE /api/v1/buildings/{id}", s.apiAuth(a.DeleteBuilding, installerOnly...))
	s.handleAPI("GET /api/v1/buildings/{id}/apartments", s.apiAuth(a.ListApartments))
	s.handleAPI("POST /api/v1/buildings/{id}/apartments", s.apiAuth(a.CreateApartment, installerOnly...))
	s.handleAPI("PATCH /api/v1/apartments/{id}", s.apiAuth(a.UpdateApartment, installerOnly...))
	s.handleAPI("DELETE /api/v1/apartments/{id}", s.apiAuth(a.DeleteApartment, installerOnly...))
	s.handleAPI("GET /api/v1/projects/{id}/departments", s.apiAuth(a.ListDepartments))
	s.handleAPI("POST /api/v1/projects/{id}/departments", s.apiAuth(a.CreateDepartment, installerOnly...))
	s.handleAPI("PATCH /api/v1/departments/{id}", s.apiAuth(a.UpdateDepartment, installerOnly...))
	s.handleAPI("DELETE /api/v1/departments/{id}", s.apiAuth(a.DeleteDepartment, installerOnly...))

	// End users: the lists and GET /end-users/{id} are the User module's (routes_endusers.go).
	s.handleAPI("POST /api/v1/projects/{id}/end-users", s.apiAuth(a.CreateEndUser, installerOnly...))
	s.handleAPI("POST /api/v1/projects/{id}/end-users/import", s.apiAuth(a.ImportEndUsers, installerOnly...))
	s.handleAPI("PATCH /api/v1/end-users/{id}", s.apiAuth(a.UpdateEndUser, installerOnly...))
	s.handleAPI("DELETE /api/v1/end-users/{id}", s.apiAuth(a.DeleteEndUser, installerOnly...))

	// Devices by MAC, and third-party cameras.
	s.handleAPI("GET /api/v1/installer/devices", s.apiAuth(a.ListInstallerDevices))
	s.handleAPI("POST /api/v1/installer/devices", s.apiAuth(a.CreateInstallerDevice, installerOnly...))
	s.handleAPI("PATCH /api/v1/installer/devices/{mac}", s.apiAuth(a.UpdateInstallerDevice, installerOnly...))
	s.handleAPI("DELETE /api/v1/installer/devices/{mac}", s.apiAuth(a.DeleteInstallerDevice, installerOnly...))
	s.handleAPI("GET /api/v1/third-party-devices", s.apiAuth(a.ListThirdPartyDevices))
	s.handleAPI("POST /api/v1/third-party-devices", s.apiAuth(a.CreateThirdPartyDevice, installerOnly...))
	s.handleAPI("GET /api/v1/third-party-devices/{id}", s.apiAuth(a.GetThirdPartyDevice))
	s.handleAPI("PATCH /api/v1/third-party-devices/{id}", s.apiAuth(a.UpdateThirdPartyDevice, installerOnly...))
	s.handleAPI("DELETE /api/v1/third-party-devices/{id}", s.apiAuth(a.DeleteThirdPartyDevice)) // and the Third-Party Device module's

	// The installer's portal.
	s.handlePage("GET /installer/projects", s.page(w.InstallerProjects, installerOnly...))
	s.handlePage("POST /installer/projects", s.page(w.CreateInstallerProject, installerOnly...))
	s.handlePage("GET /installer/projects/{id}", s.page(w.InstallerProject, installerOnly...))
	s.handlePage("POST /installer/projects/{id}", s.page(w.UpdateInstallerProject, installerOnly...))
	s.handlePage("GET /installer/projects/{id}/delete", s.page(w.InstallerProjectDelete, installerOnly...))
	s.handlePage("POST /installer/projects/{id}/delete", s.page(w.DeleteInstallerProject, installerOnly...))
	s.handlePage("POST /installer/projects/{id}/buildings", s.page(w.CreateInstallerBuilding, installerOnly...))
	s.handlePage("POST /installer/buildings/{id}", s.page(w.UpdateInstallerBuilding, installerOnly...))
	s.handlePage("POST /installer/buildings/{id}/delete", s.page(w.DeleteInstallerBuilding, installerOnly...))
	s.handlePage("POST /installer/buildings/{id}/apartments", s.page(w.CreateInstallerApartment, installerOnly...))
	s.handlePage("GET /installer/apartments/{id}", s.page(w.InstallerApartment, installerOnly...))
	s.handlePage("POST /installer/apartments/{id}", s.page(w.UpdateInstallerApartment, installerOnly...))
	s.handlePage("POST /installer/apartments/{id}/delete", s.page(w.DeleteInstallerApartment, installerOnly...))
	s.handlePage("POST /installer/projects/{id}/departments", s.page(w.CreateInstallerDepartment, installerOnly...))
	s.handlePage("POST /installer/departments/{id}", s.page(w.UpdateInstallerDepartment, installerOnly...))
	s.handlePage("POST /installer/departments/{id}/delete", s.page(w.DeleteInstallerDepartment, installerOnly...))
	s.handlePage("POST /installer/projects/{id}/users", s.page(w.CreateInstallerEndUser, installerOnly...))
	s.handlePage("POST /installer/projects/{id}/import", s.page(w.ImportInstallerEndUsers, installerOnly...))
	s.handlePage("GET /installer/end-user-template.csv", s.page(w.InstallerEndUserTemplate, installerOnly...))
	s.handlePage("GET /installer/users", s.page(w.InstallerUsers, installerOnly...))
	s.handlePage("GET /installer/users/{id}", s.page(w.InstallerUser, installerOnly...))
	s.handlePage("POST /installer/users/{id}", s.page(w.UpdateInstallerUser, installerOnly...))
	s.handlePage("GET /installer/users/{id}/delete", s.page(w.InstallerUserDelete, installerOnly...))
	s.handlePage("POST /installer/users/{id}/delete", s.page(w.DeleteInstallerUser, installerOnly...))
	s.handlePage("GET /installer/devices", s.page(w.InstallerDevices, installerOnly...))
	s.handlePage("GET /installer/devices/new", s.page(w.NewInstallerDevice, installerOnly...))
	s.handlePage("POST /installer/devices", s.page(w.CreateInstallerDevice, installerOnly...))
	s.handlePage("GET /installer/devices/{mac}", s.page(w.InstallerDevice, installerOnly...))
	s.handlePage("POST /installer/devices/{mac}", s.page(w.UpdateInstallerDevice, installerOnly...))
	s.handlePage("GET /installer/devices/{mac}/delete", s.page(w.InstallerDeviceDelete, installerOnly...))
	s.handlePage("POST /installer/devices/{mac}/delete", s.page(w.DeleteInstallerDevice, installerOnly...))
	s.handlePage("GET /installer/cameras/new", s.page(w.NewInstallerCamera, installerOnly...))
	s.handlePage("POST /installer/cameras", s.page(w.CreateInstallerCamera, installerOnly...))
	s.handlePage("GET /installer/cameras/{id}", s.page(w.InstallerCamera, installerOnly...))
	s.handlePage("POST /installer/cameras/{id}", s.page(w.UpdateInstallerCamera, installerOnly...))
	s.handlePage("GET /installer/cameras/{id}/delete", s.page(w.InstallerCameraDelete, installerOnly...))
	s.handlePage("POST /installer/cameras/{id}/delete", s.page(w.DeleteInstallerCamera, installerOnly...))
}
