package billing

import (
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Who pays for an installer's users.
//
// The sub-distributor's switches and the installer's Charge Mode decide it:
//
//   - "Pay by Distributor" on for the sub-distributor, or the installer's
//     charge mode fixed to "distributor" (it stays so when the switch is
//     turned off later): the distributor pays, nobody else.
//   - otherwise the sub-distributor pays (the guide's Subscriptions module),
//     and the installer may pay too when its charge mode is "installer".
//
// Coupons are issued to a sub-distributor: they are its prepaid money, so
// only that sub-distributor spends them. An installer or a distributor pays
// by Stripe or PayPal.

// DistributorPays reports whether the distributor pays for the users of an
// installer with chargeMode under a sub-distributor with Pay by Distributor
// payByDistributor.
func DistributorPays(payByDistributor bool, chargeMode string) bool {
	return payByDistributor || chargeMode == model.ChargeDistributor
}

// MayPay reports whether an actor of role may pay the orders of such an
// installer (the payment feature being on), and why not when it may not.
// The admin stands with the distributor; the system (accountID 0: command
// line, demo) may always.
func MayPay(role model.Role, accountID int64, distributorPays bool, chargeMode string) (bool, string) {
	if accountID == 0 {
		return true, ""
	}
	switch role {
	case model.RoleAdmin, model.RoleDistributor:
		if !distributorPays {
			return false, i18n.N("Pay by Distributor is off for this installer: its sub-distributor (or the installer) pays.")
		}
		return true, ""
	case model.RoleSubdistributor:
		if distributorPays {
			return false, i18n.N("Pay by Distributor: the distributor pays for this installer's users.")
		}
		return true, ""
	case model.RoleInstaller:
		if distributorPays {
			return false, i18n.N("Pay by Distributor: your distributor pays for your users.")
		}
		if chargeMode != model.ChargeInstaller {
			return false, i18n.N("Your charge mode is not \"installer\": your users' services are not paid by you.")
		}
		return true, ""
	}
	return false, i18n.N("You do not pay for services.")
}

// MayUseCoupons reports whether an actor of role may pay with coupons
// (those issued to its own sub-distributor account), and why not.
func MayUseCoupons(role model.Role, accountID int64) (bool, string) {
	switch {
	case accountID == 0 || role == model.RoleSubdistributor:
		return true, ""
	case role == model.RoleInstaller:
		return false, i18n.N("Coupons belong to your sub-distributor: pay by Stripe or PayPal.")
	}
	return false, i18n.N("Coupons belong to the sub-distributor they were issued to: pay by Stripe or PayPal.")
}

// ReasonPaidByDistributor is why a sub-distributor does not pay while
// Pay by Distributor is on (the store gives it).
var ReasonPaidByDistributor = i18n.N("Pay by Distributor is on: your distributor pays for your installers' users.")
