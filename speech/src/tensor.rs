//! Reading a tensor's values into host memory, where a failure is an error that fails the run,
//! never an empty vector that a caller would take for "no values".

use tch::kind::Element;
use tch::Tensor;

/// A tensor whose values could not be read (not one-dimensional, not convertible, ...).
#[derive(Debug, thiserror::Error)]
#[error("reading {what} from a tensor: {source}")]
pub struct TensorRead {
    /// What the values are, for the error message.
    pub what: &'static str,
    #[source]
    pub source: tch::TchError,
}

/// The values of the one-dimensional tensor `t` as `T` (converted from its kind);
/// `what` names them in the error.
pub(crate) fn read_vec<T: Element + Copy>(t: &Tensor, what: &'static str) -> Result<Vec<T>, TensorRead> {
    Vec::<T>::try_from(t).map_err(|source| TensorRead { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_vector() {
        let t = Tensor::from_slice(&[1.5f32, -2.0, 3.25]);
        assert_eq!(read_vec::<f32>(&t, "values").unwrap(), vec![1.5, -2.0, 3.25]);
        assert_eq!(read_vec::<f64>(&t, "values").unwrap(), vec![1.5, -2.0, 3.25]);
    }

    #[test]
    fn a_matrix_is_an_error_that_names_the_values() {
        let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
        let e = read_vec::<f32>(&t, "beam scores").unwrap_err();
        assert_eq!(e.what, "beam scores");
        assert!(e.to_string().starts_with("reading beam scores from a tensor: "), "{e}");
    }
}
