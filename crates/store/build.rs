// `sqlx::migrate!` embeds ./migrations at compile time; on stable Rust it cannot tell Cargo to rebuild when a
// migration is added or edited, so this does.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
