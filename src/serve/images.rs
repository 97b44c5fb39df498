//! Where the images of an admitted object are: the pod spec of each kind we check (Connaisseur's
//! list), its three container lists, and the JSON Patch `replace` for one container position.

use serde_json::Value;

use super::review::GroupVersionKind;

/// The JSON Pointer of the pod spec inside an object of this kind, or None for a kind that is
/// allowed untouched. `pods/ephemeralcontainers` arrives as kind Pod.
pub fn pod_spec_path(kind: &GroupVersionKind) -> Option<&'static str> {
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Pod") => Some("/spec"),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("", "ReplicationController")
        | ("batch", "Job") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// The three container lists of a pod spec, in the order kubelet starts them.
pub const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// One container's image and where it is (a JSON Pointer to the `image` field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub pointer: String,
    pub image: String,
}

/// Why an object's containers cannot be read (the object is denied: we cannot tell what runs).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImagesError {
    #[error("{pointer} is not a list of containers")]
    NotAList { pointer: String },
    #[error("{pointer}: a container without a string image")]
    NoImage { pointer: String },
    #[error("more than {max} containers")]
    TooMany { max: usize },
}

/// Most containers read from one object (the API server's body limit allows about 30,000).
pub const MAX_CONTAINERS: usize = 4096;

/// Every container image of the object, in container-list order. A kind without pod spec, or an
/// object without one, has none.
pub fn positions(object: &Value, spec_path: &str) -> Result<Vec<Position>, ImagesError> {
    let Some(spec) = object.pointer(spec_path) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for list in CONTAINER_LISTS {
        let base = format!("{spec_path}/{list}");
        let containers = match spec.get(list) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => a,
            Some(_) => return Err(ImagesError::NotAList { pointer: base }),
        };
        for (i, c) in containers.iter().enumerate() {
            let pointer = format!("{base}/{i}/image");
            let Some(image) = c.get("image").and_then(Value::as_str) else {
                return Err(ImagesError::NoImage { pointer });
            };
            if out.len() == MAX_CONTAINERS {
                return Err(ImagesError::TooMany {
                    max: MAX_CONTAINERS,
                });
            }
            out.push(Position {
                pointer,
                image: image.to_owned(),
            });
        }
    }
    Ok(out)
}

/// The JSON Patch operation that sets one container's image.
pub fn replace(pointer: &str, value: &str) -> Value {
    serde_json::json!({"op": "replace", "path": pointer, "value": value})
}

/// Whether an object is being deleted (its `metadata.deletionTimestamp` is set): an UPDATE of
/// it only removes finalizers and must not be blocked.
pub fn is_being_deleted(object: Option<&Value>) -> bool {
    object
        .and_then(|o| o.pointer("/metadata/deletionTimestamp"))
        .is_some_and(|t| !t.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gvk(group: &str, kind: &str) -> GroupVersionKind {
        GroupVersionKind {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn every_kind_has_its_pod_spec_and_others_none() {
        assert_eq!(pod_spec_path(&gvk("", "Pod")), Some("/spec"));
        assert_eq!(
            pod_spec_path(&gvk("batch", "CronJob")),
            Some("/spec/jobTemplate/spec/template/spec")
        );
        for (g, k) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("", "ReplicationController"),
            ("batch", "Job"),
        ] {
            assert_eq!(
                pod_spec_path(&gvk(g, k)),
                Some("/spec/template/spec"),
                "{k}"
            );
        }
        assert_eq!(pod_spec_path(&gvk("", "ConfigMap")), None);
        // A look-alike kind in another group is not ours to judge.
        assert_eq!(pod_spec_path(&gvk("example.com", "Deployment")), None);
    }

    #[test]
    fn init_regular_and_ephemeral_containers_are_all_found() {
        let pod = serde_json::json!({"spec": {
            "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}],
            "initContainers": [{"name": "i", "image": "i:1"}],
            "ephemeralContainers": [{"name": "e", "image": "e:1"}]}});
        let p = positions(&pod, "/spec").unwrap();
        let got: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.pointer.as_str(), p.image.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/spec/initContainers/0/image", "i:1"),
                ("/spec/containers/0/image", "a:1"),
                ("/spec/containers/1/image", "b:1"),
                ("/spec/ephemeralContainers/0/image", "e:1"),
            ]
        );
        let bad = serde_json::json!({"spec": {"containers": [{"name": "a"}]}});
        assert!(matches!(
            positions(&bad, "/spec"),
            Err(ImagesError::NoImage { .. })
        ));
        let bad = serde_json::json!({"spec": {"containers": {"a": 1}}});
        assert!(matches!(
            positions(&bad, "/spec"),
            Err(ImagesError::NotAList { .. })
        ));
    }

    #[test]
    fn deletion_timestamp_marks_an_object_being_deleted() {
        let o = serde_json::json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}});
        assert!(is_being_deleted(Some(&o)));
        assert!(!is_being_deleted(Some(
            &serde_json::json!({"metadata": {}})
        )));
        assert!(!is_being_deleted(None));
    }
}
