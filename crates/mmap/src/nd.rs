//! ndarray shapes with the file's order.

use arrfile_format::{Description, Order};
use ndarray::{IxDyn, ShapeBuilder, StrideShape};

use crate::error::ViewError;

/// The ndarray shape of `desc`: its dimensions as `usize`, with C or F strides.
pub(crate) fn dim(desc: &Description) -> Result<StrideShape<IxDyn>, ViewError> {
    let dims = desc
        .shape()
        .iter()
        .map(|&dim| usize::try_from(dim).map_err(|_| ViewError::DimensionTooLarge { dim }))
        .collect::<Result<Vec<usize>, _>>()?;
    let dim = IxDyn(&dims);
    Ok(match desc.order() {
        Order::C => dim.into(),
        Order::F => dim.f().into(),
    })
}
