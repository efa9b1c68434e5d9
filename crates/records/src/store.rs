use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use url::Url;

use crate::error::{Error, Result};

/// A storage root: one object store and a prefix inside it, under which every dataset, run and
/// registry of a project lives.
///
/// Accepted forms: a plain local path (created if missing), `file://`, `memory://`,
/// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` (also `abfs://` and
/// `https://` Azure URLs). Cloud credentials, regions and endpoints come from the providers'
/// usual environment variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`,
/// `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, ...). S3 uses path-style requests
/// unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`, so local S3-protocol servers work as is.
#[derive(Clone)]
pub struct Root {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Root").field("url", &self.url).finish()
    }
}

impl Root {
    /// Opens a root from a URL or a local path.
    pub fn parse(location: &str) -> Result<Root> {
        Self::parse_with_options(location, &[])
    }

    /// Like [`Root::parse`], with store settings given explicitly on top of the environment:
    /// `object_store` configuration keys such as `aws_endpoint`, `aws_allow_http`,
    /// `aws_access_key_id`, `google_service_account` or `azure_storage_account_name`.
    pub fn parse_with_options(location: &str, options: &[(&str, &str)]) -> Result<Root> {
        let invalid = |reason: String| Error::InvalidRoot {
            url: location.to_string(),
            reason,
        };
        if !location.contains("://") {
            return Self::local(std::path::Path::new(location)).map_err(invalid);
        }
        let url = Url::parse(location).map_err(|e| invalid(e.to_string()))?;
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| invalid("not a local path".into()))?;
                Self::local(&path).map_err(invalid)
            }
            "memory" => {
                let prefix = Path::parse(url.path()).map_err(|e| invalid(e.to_string()))?;
                Ok(Root {
                    store: Arc::new(InMemory::new()),
                    prefix,
                    url: location.to_string(),
                })
            }
            "s3" | "s3a" => {
                // Create-only writes (the registry's version claims) need S3's conditional
                // writes, which object_store leaves off unless asked; AWS_CONDITIONAL_PUT
                // (for example `disabled`) overrides.
                let mut builder = AmazonS3Builder::from_env().with_url(location);
                if std::env::var_os("AWS_CONDITIONAL_PUT").is_none() {
                    builder = builder.with_config(AmazonS3ConfigKey::ConditionalPut, "etag");
                }
                let builder = configure(
                    builder,
                    options,
                    |b: AmazonS3Builder, k: AmazonS3ConfigKey, v: &str| b.with_config(k, v),
                )
                .map_err(invalid)?;
                let store = builder.build().map_err(|e| invalid(e.to_string()))?;
                Self::remote(Arc::new(store), &url, location)
            }
            "gs" => {
                let builder = configure(
                    GoogleCloudStorageBuilder::from_env().with_url(location),
                    options,
                    |b: GoogleCloudStorageBuilder, k: GoogleConfigKey, v: &str| b.with_config(k, v),
                )
                .map_err(invalid)?;
                let store = builder.build().map_err(|e| invalid(e.to_string()))?;
                Self::remote(Arc::new(store), &url, location)
            }
            "az" | "adl" | "azure" | "abfs" | "abfss" | "https" => {
                let builder = configure(
                    MicrosoftAzureBuilder::from_env().with_url(location),
                    options,
                    |b: MicrosoftAzureBuilder, k: AzureConfigKey, v: &str| b.with_config(k, v),
                )
                .map_err(invalid)?;
                let store = builder.build().map_err(|e| invalid(e.to_string()))?;
                Self::remote(Arc::new(store), &url, location)
            }
            other => Err(invalid(format!(
                "unsupported scheme `{other}` (use a path, file://, memory://, s3://, gs:// or az://)"
            ))),
        }
    }

    /// Wraps an already built store, for embedders and tests.
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str, url: &str) -> Result<Root> {
        let prefix = Path::parse(prefix).map_err(|e| Error::InvalidRoot {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Root {
            store,
            prefix,
            url: url.to_string(),
        })
    }

    fn local(path: &std::path::Path) -> std::result::Result<Root, String> {
        std::fs::create_dir_all(path)
            .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
        let abs = path.canonicalize().map_err(|e| e.to_string())?;
        let store = LocalFileSystem::new_with_prefix(&abs).map_err(|e| e.to_string())?;
        Ok(Root {
            store: Arc::new(store),
            prefix: Path::default(),
            url: format!("file://{}", abs.display()),
        })
    }

    fn remote(store: Arc<dyn ObjectStore>, url: &Url, location: &str) -> Result<Root> {
        // For bucket-style URLs the host is the bucket and the path is the prefix inside it.
        let prefix =
            Path::parse(url.path().trim_start_matches('/')).map_err(|e| Error::InvalidRoot {
                url: location.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Root {
            store,
            prefix,
            url: location.trim_end_matches('/').to_string(),
        })
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The URL this root was opened with (local paths are made absolute).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object path of `relative` (slash separated) under this root.
    pub fn path(&self, relative: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        path
    }

    /// A printable location for messages: the root URL plus the relative path.
    pub fn display(&self, relative: &str) -> String {
        format!(
            "{}/{}",
            self.url.trim_end_matches('/'),
            relative.trim_start_matches('/')
        )
    }
}

/// Applies `object_store` configuration keys to a cloud store builder: the same loop for the
/// three providers, whose key types differ.
fn configure<B, K>(
    mut builder: B,
    options: &[(&str, &str)],
    set: impl Fn(B, K, &str) -> B,
) -> std::result::Result<B, String>
where
    K: std::str::FromStr<Err = object_store::Error>,
{
    for (key, value) in options {
        let key = key.parse::<K>().map_err(|e| e.to_string())?;
        builder = set(builder, key, value);
    }
    Ok(builder)
}
