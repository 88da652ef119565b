//! Accounts: their credentials checked against the integration's auth, base URLs on allowed
//! hosts, and their lifecycle.

use crate::call::Credentials;
use crate::crypto::new_id;
use crate::store::{Account, now};

use super::{
    AccountView, CreateAccount, Field, ProvisionError, Provisioner, Resource, UpdateAccount,
    account_view, base_url_required, check_name,
};

impl Provisioner {
    pub(super) async fn check_credentials(
        &self,
        integration: &'static specgate_runtime::Integration,
        credentials: &Credentials,
    ) -> Result<(), ProvisionError> {
        credentials
            .validate(&integration.auth)
            .map_err(|mismatch| ProvisionError::CredentialsMismatch {
                integration: integration.name,
                mismatch,
            })?;
        if let Some(url) = &credentials.token_url {
            self.check_upstream_url(integration, Field::TokenUrl, url)
                .await?;
        }
        Ok(())
    }

    /// Registers an account.
    pub async fn create_account(
        &self,
        request: CreateAccount,
    ) -> Result<AccountView, ProvisionError> {
        let integration = self.integration(&request.integration)?;
        check_name(&request.name)?;
        self.check_credentials(integration, &request.credentials)
            .await?;
        self.check_base_url(integration, request.base_url.as_deref())
            .await?;
        let at = now();
        let account = Account {
            id: new_id().map_err(ProvisionError::internal)?,
            integration: integration.name.to_owned(),
            name: request.name,
            base_url: request.base_url,
            created_at: at,
            updated_at: at,
            needs_reconnect: false,
        };
        self.state
            .store
            .create_account(&account, &self.seal(&request.credentials)?)
            .await?;
        Ok(account_view(account))
    }

    /// All accounts.
    pub async fn list_accounts(&self) -> Result<Vec<AccountView>, ProvisionError> {
        Ok(self
            .state
            .store
            .list_accounts()
            .await?
            .into_iter()
            .map(account_view)
            .collect())
    }

    /// One account.
    pub async fn get_account(&self, id: &str) -> Result<AccountView, ProvisionError> {
        self.account(id).await.map(account_view)
    }

    /// Renames, re-points or rotates credentials.
    pub async fn update_account(
        &self,
        id: &str,
        request: UpdateAccount,
    ) -> Result<AccountView, ProvisionError> {
        let account = self.account(id).await?;
        let integration = self.integration(&account.integration)?;
        if let Some(name) = &request.name {
            check_name(name)?;
        }
        let new_base_url = request
            .base_url
            .clone()
            .filter(|url| *url != account.base_url);
        if new_base_url.is_some() && request.credentials.is_none() {
            return Err(ProvisionError::CredentialsRequired);
        }
        match new_base_url.as_ref() {
            Some(Some(url)) => {
                self.check_upstream_url(integration, Field::BaseUrl, url)
                    .await?
            }
            Some(None) if !has_fixed_base_url(integration) => {
                return Err(base_url_required(integration));
            }
            _ => {}
        }
        let sealed = match &request.credentials {
            Some(credentials) => {
                self.check_credentials(integration, credentials).await?;
                Some(self.seal(credentials)?)
            }
            None => None,
        };
        self.state
            .store
            .update_account(
                id,
                request.name.as_deref(),
                new_base_url.as_ref().map(Option::as_deref),
                sealed.as_deref(),
            )
            .await?;
        self.get_account(id).await
    }

    /// Deletes an account and its MCP servers.
    pub async fn delete_account(&self, id: &str) -> Result<(), ProvisionError> {
        if self.state.store.delete_account(id).await? {
            Ok(())
        } else {
            Err(ProvisionError::not_found(Resource::Account, id))
        }
    }
}

/// Whether the spec gives the integration a usable base URL; without one every account sets
/// its own `base_url`.
pub(super) fn has_fixed_base_url(integration: &specgate_runtime::Integration) -> bool {
    integration.base_url.contains("://") && !integration.base_url.contains('{')
}
