//! A lost device is reported as an error value, not a panic. Its own process: the device
//! is destroyed for good.

use engine::Tensor;

#[test]
fn work_after_the_device_is_lost_returns_errors() {
    let ctx = engine::gpu::context().unwrap();
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0], &[3]).unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![1.0, 2.0, 3.0]);
    ctx.device.destroy();
    let r = x.exp().and_then(|y| y.to_vec());
    let e = r.expect_err("reading from a destroyed device must fail");
    eprintln!("error after device loss: {e}");
    assert!(matches!(e, engine::Error::DeviceLost(_)), "{e}");
}
